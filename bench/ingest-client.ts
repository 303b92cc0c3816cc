/**
 * The load generator of the ingest bench: batches of synthetic llm.request events and HTTP clients that
 * post them back to back. It runs in a worker thread by default, as real senders are other machines:
 * the server's thread is then measured without the client's own JSON and HTTP work on it (the two
 * still share the machine's cores). BENCH_INGEST_CLIENT=inline runs it on the server's thread instead.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export function makeEvents(prefix: string, n: number, from = 0) {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    return {
      type: 'llm.request',
      id: `${prefix}-${k}`,
      timestamp: new Date(now - 30_000 + (k % 20_000)).toISOString(),
      target: prefix,
      segment: 'default',
      arm: k % 3 === 0 ? 'gpt-4o' : 'haiku',
      request_id: `${prefix}-r${k}`,
      model: k % 3 === 0 ? 'gpt-4o' : 'claude-3-5-haiku',
      provider: k % 3 === 0 ? 'openai' : 'anthropic',
      latency_ms: 200 + (k % 1500),
      ttft_ms: 50 + (k % 100),
      input_tokens: 500 + (k % 700),
      output_tokens: 100 + (k % 300),
      status: k % 50 === 0 ? 'error' : 'ok',
      quality_score: (k % 100) / 100,
    };
  });
}

export interface ClientPlan {
  url: string;
  key: string;
  target: string;
  seconds: number;
  clients: number;
  batch: number;
  /** Bodies prepared up front (fresh ids each), enough for this many events per second. */
  maxEventsPerSecond: number;
}

export interface ClientResult {
  sent: number;
  /** Ack latency of every 202, ms. */
  latencies: number[];
  /** Wall clock (epoch ms, sub-ms precision) of the first request and of the last answer. */
  startedAt: number;
  ackedAt: number;
}

const wallClock = () => performance.timeOrigin + performance.now();

/** `ready` is called once the bodies are prepared, just before the first request. */
export async function runClients(
  plan: ClientPlan,
  ready: () => void = () => undefined,
): Promise<ClientResult> {
  // Prepared before the clock starts, so sending costs the clients little CPU.
  const bodies: string[] = [];
  const prepared = Math.ceil((plan.seconds * plan.maxEventsPerSecond) / plan.batch);
  for (let b = 0; b < prepared; b++)
    bodies.push(JSON.stringify(makeEvents(plan.target, plan.batch, b * plan.batch)));
  const latencies: number[] = [];
  let next = 0;
  let sent = 0;
  ready();
  const startedAt = wallClock();
  const deadline = startedAt + plan.seconds * 1000;
  const client = async () => {
    while (wallClock() < deadline && next < bodies.length) {
      const body = bodies[next++]!;
      const t = performance.now();
      const r = await fetch(plan.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${plan.key}` },
        body,
      });
      await r.arrayBuffer();
      if (r.status === 202) {
        latencies.push(performance.now() - t);
        sent += plan.batch;
      } else if (r.status !== 503) throw new Error(`ingest answered ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: plan.clients }, client));
  return { sent, latencies, startedAt, ackedAt: wallClock() };
}

/** Runs the clients in a worker thread (TypeScript through tsx's loader, registered in the worker). */
export function runClientsInWorker(
  plan: ClientPlan,
  ready: () => void = () => undefined,
): Promise<ClientResult> {
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { ingestClientPlan: plan } });
  return new Promise<ClientResult>((resolve, reject) => {
    worker.on(
      'message',
      (m: { ready: true } | { ok: true; result: ClientResult } | { ok: false; error: string }) => {
        if ('ready' in m) return ready();
        void worker.terminate();
        if (m.ok) resolve(m.result);
        else reject(new Error(m.error));
      },
    );
    worker.once('error', reject);
  });
}

const plan = (workerData as { ingestClientPlan?: ClientPlan } | null)?.ingestClientPlan;
if (!isMainThread && plan) {
  runClients(plan, () => parentPort!.postMessage({ ready: true })).then(
    (result) => parentPort!.postMessage({ ok: true, result }),
    (err: unknown) =>
      parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
}
