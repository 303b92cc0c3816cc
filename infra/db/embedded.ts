/**
 * Embedded PostgreSQL for `npm start` with nothing configured: PGlite (Postgres compiled to WASM) served on
 * a real PostgreSQL socket, so every process uses the same `pg` data layer it would use in production.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  host?: string;
  maxConnections?: number;
}): Promise<EmbeddedPostgres> {
  mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: opts.dataDir });
  const host = opts.host ?? '127.0.0.1';
  const server = new PGLiteSocketServer({
    db,
    port: opts.port,
    host,
    maxConnections: opts.maxConnections ?? 64,
  });
  await server.start();
  return {
    url: `postgres://postgres@${host}:${opts.port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
