/**
 * Calls and notices between the API thread and the shard's worker thread over one message port: a call
 * is answered once (its result or its error's message), a notice is not answered. Messages arrive in
 * the order they were posted, which the pipeline relies on (records before the drain that awaits them).
 */
import type { MessagePort, Worker } from 'node:worker_threads';

type Port = Pick<MessagePort | Worker, 'postMessage' | 'on'>;
type Message =
  | { kind: 'call'; id: number; name: string; arg: unknown }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
  | { kind: 'notice'; name: string; arg: unknown };

export type Handlers = Record<string, (arg: never) => unknown>;

export interface ThreadPeer {
  call<T>(name: string, arg?: unknown): Promise<T>;
  /** `transfer`: buffers moved to the other thread rather than copied (unusable here afterwards). */
  notify(name: string, arg?: unknown, transfer?: ArrayBuffer[]): void;
  /** Rejects every call still unanswered (the other thread ended). */
  fail(err: Error): void;
}

export function connectPeer(port: Port, handlers: Handlers): ThreadPeer {
  let next = 0;
  const waiting = new Map<number, { resolve(v: never): void; reject(e: Error): void }>();
  port.on('message', (m: Message) => {
    if (m.kind === 'reply') {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.ok) w?.resolve(m.value as never);
      else w?.reject(new Error(m.error));
      return;
    }
    const handler = handlers[m.name];
    const run = async () => (handler ? handler(m.arg as never) : Promise.reject(new Error(`no ${m.name}`)));
    if (m.kind === 'notice') {
      void run().catch(() => undefined);
      return;
    }
    run().then(
      (value) => port.postMessage({ kind: 'reply', id: m.id, ok: true, value } satisfies Message),
      (err: unknown) =>
        port.postMessage({
          kind: 'reply',
          id: m.id,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        } satisfies Message),
    );
  });
  return {
    call<T>(name: string, arg?: unknown) {
      const id = next++;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        port.postMessage({ kind: 'call', id, name, arg } satisfies Message);
      });
    },
    notify(name, arg, transfer) {
      port.postMessage({ kind: 'notice', name, arg } satisfies Message, transfer);
    },
    fail(err) {
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    },
  };
}
