/**
 * What the gateway's tests share: the test system served over real HTTP as api/main.ts serves it (the
 * routing-config cache, the embedded ingest pipeline), a provider configured at a local stub, an
 * application's key, metrics of a target summed per arm, and the stubs' HTTP server.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { listenApi } from '../../api/server';
import { uniqueName } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

export interface GatewaySystem {
  sys: TestSystem;
  /** http://127.0.0.1:<port> of the API. */
  base: string;
  /** An ingest key, as applications call with: gateway:invoke is theirs. */
  appKey: string;
  /** GET /v1/targets/{name}/metrics summed per arm, once the pipeline wrote what it holds. */
  metricsByArm(name: string): Promise<Record<string, ArmTotals>>;
  stop(): Promise<void>;
}

export interface ArmTotals {
  count: number;
  ok: number;
  errors: Record<string, number>;
  input: number;
  output: number;
}

type Point = {
  count: number;
  ok: number;
  input_tokens: number;
  output_tokens: number;
  errors: Record<string, number>;
};

export async function startGatewaySystem(provider: {
  name: string;
  api: 'openai' | 'anthropic';
  base_url: string;
  api_key: string;
}): Promise<GatewaySystem> {
  const sys = await startTestSystem({
    workers: false,
    cache: true,
    ingest: {
      name: uniqueName('gw'),
      env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-gateway-')), INGEST_FLUSH_INTERVAL_MS: 100 },
    },
  });
  const server = await listenApi(sys.app, 0, '127.0.0.1');
  const { name, ...body } = provider;
  expect((await call(sys, 'PUT', `/v1/providers/${name}`, body)).status).toBe(201);
  return {
    sys,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    appKey: await sys.keyFor('ingest'),
    async metricsByArm(target) {
      await sys.ingest!.pipeline.drain();
      const from = new Date(Date.now() - 3_600_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const r = await call(sys, 'GET', `/v1/targets/${target}/metrics?from=${from}&to=${to}&step=1d`);
      expect(r.status).toBe(200);
      const out: Record<string, ArmTotals> = {};
      for (const s of r.body.series as { arm: string; points: Point[] }[]) {
        const acc = (out[s.arm] ??= { count: 0, ok: 0, errors: {}, input: 0, output: 0 });
        for (const p of s.points) {
          acc.count += p.count;
          acc.ok += p.ok;
          acc.input += p.input_tokens;
          acc.output += p.output_tokens;
          for (const [k, v] of Object.entries(p.errors)) acc.errors[k] = (acc.errors[k] ?? 0) + v;
        }
      }
      return out;
    },
    async stop() {
      await new Promise((r) => server.close(r));
      await sys.stop();
    },
  };
}

/** A stub provider's server on a free loopback port: `POST <path>` goes to `handle`, anything else 404. */
export async function listenStub(
  path: string,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== path) {
      res.writeHead(404).end();
      return;
    }
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
