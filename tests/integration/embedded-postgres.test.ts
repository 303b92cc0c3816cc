/**
 * The embedded PostgreSQL of `npm start` (infra/embedded-postgres.ts), a private instance on a free port: a
 * pool of 10 under concurrent transactions and two-query reads gets every row right every time (the
 * single-session PGlite it replaces lost prepared statements and returned empty results under exactly
 * this load), it is PostgreSQL 15 on loopback only, and it starts again over what a crash leaves behind.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../infra/embedded-postgres';
import { createPool, withTransaction, type Db } from '../../adapters/db/pool';
import { freePort } from '../../platform/net';

const ROUNDS = 100;
const TRANSACTIONS = 6;
const READS = 6;
const ROWS_PER_TRANSACTION = 3;
const SEEDS = 200;

let root: string;
let dataDir: string;
let port: number;
let server: EmbeddedPostgres;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'llmopt-embedded-pg-'));
  // When the tests run as root the server runs as an unprivileged user, which must reach its folder.
  chmodSync(root, 0o711);
  dataDir = join(root, 'postgres');
  port = await freePort();
  server = await startEmbeddedPostgres({ dataDir, port });
});

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function one<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows[0]!;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', () => {
  it('is PostgreSQL 15 listening on loopback only', async () => {
    const row = await one<{ version: string; listen: string }>(
      server.url,
      "SELECT current_setting('server_version_num') AS version, current_setting('listen_addresses') AS listen",
    );
    expect(row.version).toMatch(/^15\d{4}$/);
    expect(row.listen).toBe('127.0.0.1');
  });

  it('answers a pool of 10 under concurrent transactions and two-query reads with every row right', async () => {
    const db: Db = createPool(server.url, 10);
    try {
      await db.query('CREATE TABLE probe_seed (id int PRIMARY KEY, v text NOT NULL)');
      await db.query(
        'CREATE TABLE probe_rows (round int, tx int, k int, v text, PRIMARY KEY (round, tx, k))',
      );
      await db.query("INSERT INTO probe_seed SELECT i, 'v' || i FROM generate_series(1, $1::int) i", [SEEDS]);
      const wrong: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const writes = Array.from({ length: TRANSACTIONS }, (_, tx) =>
          withTransaction(db, async (t) => {
            for (let k = 0; k < ROWS_PER_TRANSACTION; k++)
              await t.query('INSERT INTO probe_rows (round, tx, k, v) VALUES ($1, $2, $3, $4)', [
                round,
                tx,
                k,
                `r${round}t${tx}k${k}`,
              ]);
            const own = await t.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM probe_rows WHERE round = $1 AND tx = $2',
              [round, tx],
            );
            if (own.rows[0]?.n !== ROWS_PER_TRANSACTION)
              wrong.push(`round ${round} tx ${tx} saw ${own.rows[0]?.n} of its own rows`);
          }),
        );
        const reads = Array.from({ length: READS }, async (_, i) => {
          const id = ((round * READS + i) % SEEDS) + 1;
          const single = await db.query<{ v: string }>('SELECT v FROM probe_seed WHERE id = $1', [id]);
          if (single.rows.length !== 1 || single.rows[0]!.v !== `v${id}`)
            wrong.push(`round ${round}: id ${id} read as ${JSON.stringify(single.rows)}`);
          const ids = [id, (id % SEEDS) + 1];
          const pair = await db.query<{ id: number; v: string }>(
            'SELECT id, v FROM probe_seed WHERE id = ANY($1::int[]) ORDER BY id',
            [ids],
          );
          const expected = [...ids].sort((a, b) => a - b).map((x) => ({ id: x, v: `v${x}` }));
          if (JSON.stringify(pair.rows) !== JSON.stringify(expected))
            wrong.push(`round ${round}: ids ${ids.join(',')} read as ${JSON.stringify(pair.rows)}`);
        });
        const settled = await Promise.allSettled([...writes, ...reads]);
        for (const s of settled)
          if (s.status === 'rejected') wrong.push(`round ${round}: ${String(s.reason)}`);
        const stored = await db.query<{ v: string }>(
          'SELECT v FROM probe_rows WHERE round = $1 ORDER BY tx, k',
          [round],
        );
        const expected = Array.from({ length: TRANSACTIONS * ROWS_PER_TRANSACTION }, (_, i) => {
          const tx = Math.floor(i / ROWS_PER_TRANSACTION);
          return `r${round}t${tx}k${i % ROWS_PER_TRANSACTION}`;
        });
        if (JSON.stringify(stored.rows.map((r) => r.v)) !== JSON.stringify(expected))
          wrong.push(`round ${round}: stored ${stored.rows.length} rows, not the ${expected.length} written`);
      }
      expect(wrong).toEqual([]);
    } finally {
      await db.end();
    }
  });

  it('starts again over a crash: committed data kept, a stale postmaster.pid ignored', async () => {
    await one(server.url, 'CREATE TABLE survives (v text)');
    await one(server.url, "INSERT INTO survives VALUES ('committed before the crash')");
    process.kill(server.pid, 'SIGKILL');
    await server.exited;
    // After a reboot the pid in the file can belong to any process: here, this test's own.
    writeFileSync(join(dataDir, 'postmaster.pid'), `${process.pid}\n${dataDir}\n`);
    server = await startEmbeddedPostgres({ dataDir, port });
    const row = await one<{ v: string }>(server.url, 'SELECT v FROM survives');
    expect(row.v).toBe('committed before the crash');
  });

  it('takes over the server a crashed supervisor left running', async () => {
    const orphan = server;
    // Not stopped: a second start finds it running on its data directory, as after a SIGKILLed npm start.
    server = await startEmbeddedPostgres({ dataDir, port });
    const exit = await orphan.exited;
    expect(exit.signal ?? exit.code).not.toBeUndefined();
    expect((await one<{ n: number }>(server.url, 'SELECT count(*)::int AS n FROM survives')).n).toBe(1);
  });

  it('stops cleanly: the server gone, its pid file removed', async () => {
    await server.stop();
    expect((await server.exited).code).toBe(0);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  });
});
