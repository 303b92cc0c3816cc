/**
 * API_WORKERS=2 against the real services: the API process runs two full API workers behind one REST
 * and one gRPC port, each with its own ingest shard; /metrics answers for both; a worker that dies is
 * restarted; SIGTERM stops everything with exit code 0.
 */
import '@hono/zod-openapi';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../platform/net';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../../proto/gen/grpc/health/v1/health';
import { eventually, testEnv, uniqueName } from '../helpers/env';
import { spawnEntrypoint, type Spawned } from '../helpers/process';

const running: Spawned[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

/** Process ids of the children of `pid` (the cluster workers). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const list = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    if (list) kids.push(...list.split(' ').map(Number));
  }
  return kids;
}

function grpcHealth(address: string): Promise<HealthCheckResponse_ServingStatus> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.check({ service: '' }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

describe('API_WORKERS=2', () => {
  it('serves REST and gRPC from two workers, aggregates metrics, restarts a dead worker, stops on SIGTERM', async () => {
    const port = await freePort();
    const grpcPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'llmopt-cluster-'));
    const shard = uniqueName('cl');
    const proc = spawnEntrypoint('api/main.ts', {
      TEMPORAL_ADDRESS: testEnv.TEMPORAL_ADDRESS,
      DATABASE_URL: testEnv.DATABASE_URL,
      ...(testEnv.REDIS_URL ? { REDIS_URL: testEnv.REDIS_URL } : {}),
      LOG_LEVEL: 'info',
      PORT: String(port),
      GRPC_PORT: String(grpcPort),
      DATA_DIR: dataDir,
      INGEST_SHARD_NAME: shard,
      API_WORKERS: '2',
    });
    running.push(proc);
    const base = `http://127.0.0.1:${port}`;
    const bothReady = () =>
      eventually(
        async () =>
          childrenOf(proc.child.pid!).length === 2 &&
          proc.output().split('"API listening"').length - 1 >= 2 &&
          (await fetch(`${base}/readyz`).catch(() => null))?.status === 200,
        { timeoutMs: 90_000, what: 'two API workers listening and ready' },
      );
    await bothReady().catch((err: Error) => {
      throw new Error(`${err.message}\n${proc.output().slice(-4000)}`);
    });

    // Each worker writes its own shard, named after its index.
    for (const i of [0, 1])
      expect(existsSync(join(dataDir, 'wal', `${shard}-${i}`)), `shard ${i}`).toBe(true);

    // Concurrent requests open several connections, which the primary hands to both workers in turn; the
    // metrics any worker answers count all of them.
    const answers = await Promise.all(Array.from({ length: 40 }, () => fetch(`${base}/healthz`)));
    expect(answers.every((r) => r.status === 200)).toBe(true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const healthz = metrics
      .split('\n')
      .find((l) => l.startsWith('llmopt_http_requests_total{') && l.includes('route="/healthz"'));
    expect(healthz, metrics.slice(0, 2000)).toBeDefined();
    expect(Number(healthz!.split(' ').at(-1))).toBe(40);

    for (let i = 0; i < 4; i++)
      expect(await grpcHealth(`127.0.0.1:${grpcPort}`)).toBe(HealthCheckResponse_ServingStatus.SERVING);

    // A worker killed outright is replaced, under the same shard.
    const [victim] = childrenOf(proc.child.pid!);
    process.kill(victim!, 'SIGKILL');
    await eventually(
      async () => {
        const now = childrenOf(proc.child.pid!);
        return now.length === 2 && !now.includes(victim!);
      },
      { timeoutMs: 60_000, what: 'the dead worker replaced' },
    );
    await eventually(async () => proc.output().split('"API listening"').length - 1 >= 3, {
      timeoutMs: 90_000,
      what: 'the new worker listening',
    });
    expect(proc.output()).toContain('API worker exited; restarting it');
    expect(await grpcHealth(`127.0.0.1:${grpcPort}`)).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const sentAt = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    expect(exit.code, proc.output().slice(-3000)).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(12_000);
  }, 240_000);
});
