/**
 * Shared pieces of the integration tests: a programmable HTTP server on loopback (a webhook subscriber
 * or a local stand-in for Slack, GitHub, Jira, Anthropic), an in-process integrations worker on the test
 * file's own task queue, and the app built with settings that allow loopback destinations.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import type { createApp } from '../../api/app';
import { createIntegrationActivities } from '../../activities/integrations';
import { createPublishActivities } from '../../activities/integrations/publish';
import type { DomainEvent, DomainEventType } from '../../domain/domain-events';
import type { EvalResultEvent } from '../../domain/events';
import { parseEnv, type Env } from '../../platform/env';
import { workflowBundlePath } from '../../platform/temporal';
import type { DeliveryPolicy } from '../../workflows/notify-types';
import { testEnv, uniqueName, holdTestLock } from '../helpers/env';
import { call, startTestSystem, type TestSystem } from '../helpers/system';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
}

export interface LocalServer {
  url: string;
  port: number;
  received: Received[];
  /** Decides each answer; `n` counts requests from 0. */
  respond: (req: Received, n: number) => Reply | Promise<Reply>;
  close(): Promise<void>;
}

export async function startServer(
  respond: LocalServer['respond'] = () => ({ status: 200, body: 'ok' }),
): Promise<LocalServer> {
  const received: Received[] = [];
  const state: LocalServer = {
    url: '',
    port: 0,
    received,
    respond,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      const n = received.length;
      received.push(r);
      void Promise.resolve(state.respond(r, n)).then((reply) => {
        const body =
          reply.body === undefined
            ? ''
            : typeof reply.body === 'string'
              ? reply.body
              : JSON.stringify(reply.body);
        res.writeHead(reply.status, {
          ...(typeof reply.body === 'object' ? { 'content-type': 'application/json' } : {}),
          ...reply.headers,
        });
        res.end(body);
      });
    });
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  return state;
}

/** Settings of the tests: loopback allowed by the allow-list (not the blanket switch), quick retries. */
export function integrationEnv(overrides: Record<string, string> = {}): Env {
  return parseEnv({
    ...process.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    WEBHOOK_ALLOWED_DESTINATIONS: '127.0.0.0/8',
    WEBHOOK_RETRY_INITIAL_MS: '100',
    WEBHOOK_RETRY_MAX_MS: '400',
    WEBHOOK_MAX_ATTEMPTS: '4',
    WEBHOOK_TIMEOUT_MS: '3000',
    INTEGRATION_BREAKER_RESET_MS: '1000',
    INTEGRATION_RATE_LIMIT_PER_SECOND: '50',
    ...overrides,
  });
}

export const TEST_POLICY: Partial<DeliveryPolicy> = { heartbeatTimeoutMs: 3_000, integrationMaxAttempts: 4 };

export interface IntegrationSystem {
  sys: TestSystem;
  env: Env;
  app: ReturnType<typeof createApp>;
  /** API call with the admin key. */
  api: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => ReturnType<typeof call>;
  /** Publishes a domain event the way workflows do (outbox, then the notify workflow). */
  publish: (event: DomainEvent) => Promise<{ stored: boolean }>;
  stop(): Promise<void>;
}

export async function startIntegrationSystem(
  envOverrides: Record<string, string> = {},
  opts: {
    /** Run the embedded ingest pipeline, and send the judge's eval.result events through POST /v1/events. */
    ingest?: boolean;
  } = {},
): Promise<IntegrationSystem> {
  const env = integrationEnv(envOverrides);
  // One container for the app and the worker, composed with the settings of these tests.
  const sys = await startTestSystem({
    workers: false,
    env,
    ...(opts.ingest
      ? {
          ingest: {
            name: uniqueName('integrations-ingest'),
            env: { DATA_DIR: mkdtempSync(join(tmpdir(), 'llmopt-int-')), INGEST_FLUSH_INTERVAL_MS: 100 },
          },
        }
      : {}),
  });
  const { app } = sys;
  const emitEvalEvents = async (events: EvalResultEvent[]) => {
    const r = await call(sys, 'POST', '/v1/events', events);
    if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body)}`);
  };
  const publisher = createPublishActivities(sys.container, { policy: TEST_POLICY });
  const connection = await NativeConnection.connect({ address: testEnv.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: testEnv.TEMPORAL_NAMESPACE,
    taskQueue: sys.taskQueues.integrations,
    workflowBundle: { codePath: await workflowBundlePath(undefined, 'notify.ts') },
    activities: createIntegrationActivities(sys.container, {
      publish: { policy: TEST_POLICY },
      ...(opts.ingest ? { emitEvalEvents } : {}),
    }),
  });
  const run = worker.run();
  return {
    sys,
    env,
    app,
    api: (method, path, body, headers = {}) => call(sys, method, path, body, headers),
    publish: (event) => publisher.publishDomainEvent(event),
    async stop() {
      worker.shutdown();
      await run;
      await connection.close();
      await sys.stop();
    },
  };
}

export function domainEvent(
  type: DomainEventType,
  target: string,
  data: Record<string, unknown> = {},
): DomainEvent {
  return {
    id: uniqueName(`evt-${type.replace('.', '-')}`),
    type,
    version: 1,
    occurred_at: new Date().toISOString(),
    target,
    segment: 'default',
    summary: `${type} on ${target}`,
    data,
  };
}

/** A Messages API answer as Anthropic sends it, with the given text and token usage. */
export function anthropicMessage(
  text: string,
  usage = { input_tokens: 100, output_tokens: 20 },
  model = 'claude-test',
) {
  return {
    status: 200,
    body: {
      id: `msg_${Math.random().toString(36).slice(2)}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage,
    },
  };
}

/**
 * The integrations' settings rows (anthropic, jira, ...) are one per kind, so no unique name isolates
 * them: files that change them call this once at top level and take turns (a PostgreSQL advisory lock).
 */
export function takeTurnsWithIntegrationSettings(): void {
  let release: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    release = await holdTestLock('integration-settings');
  }, 900_000);
  afterAll(async () => {
    await release?.();
  });
}
