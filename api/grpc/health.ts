/**
 * grpc.health.v1, public like /readyz: SERVING while every readiness check passes. Readiness is computed
 * at most once per interval and shared by every Check and Watch, so watchers cost no checks of their
 * own; Watch streams are unauthenticated, hence bounded (GRPC_HEALTH_MAX_WATCHERS in the process, and the
 * per-connection stream limit).
 */
import * as grpc from '@grpc/grpc-js';
import { AppError } from '../../domain/errors';
import { runReadiness } from '../../platform/process';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../../proto/gen/grpc/health/v1/health';
import type { ApiDeps } from '../lib/types';
import { toStreamError } from './common';
import type { Guard } from './guard';

const KNOWN_SERVICES = new Set([
  '',
  'llmopt.v1.IngestService',
  'llmopt.v1.OptimizationService',
  'llmopt.v1.RolloutService',
  'llmopt.v1.ConfigService',
]);

interface Watcher {
  service: string;
  last: ServingStatus | undefined;
  call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
}

export function healthService(
  deps: ApiDeps,
  guard: Guard,
  intervalMs: number,
): { service: HealthServer; close(): void } {
  let latest: { at: number; ready: Promise<boolean> } | undefined;
  /** Whether the process is ready, computed at most once per interval whoever asks. */
  const ready = (): Promise<boolean> => {
    const now = Date.now();
    if (!latest || now - latest.at >= intervalMs)
      latest = {
        at: now,
        ready: runReadiness(deps.checks, deps.metrics).then(
          (r) => r.ready,
          () => false,
        ),
      };
    return latest.ready;
  };
  const statusOf = (service: string, isReady: boolean): ServingStatus => {
    if (!KNOWN_SERVICES.has(service)) return ServingStatus.SERVICE_UNKNOWN;
    if (deps.isStopping?.()) return ServingStatus.NOT_SERVING;
    return isReady ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  };

  const watchers = new Set<Watcher>();
  let timer: NodeJS.Timeout | undefined;
  const push = (w: Watcher, isReady: boolean) => {
    const status = statusOf(w.service, isReady);
    if (status === w.last || !watchers.has(w)) return;
    w.last = status;
    w.call.write({ status });
  };
  const tick = () => {
    void ready().then((isReady) => {
      for (const w of watchers) push(w, isReady);
    });
  };

  const service: HealthServer = {
    check: (call, callback) => {
      const { service: name } = call.request;
      if (!KNOWN_SERVICES.has(name)) {
        callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${name}"` });
        return;
      }
      void ready().then((isReady) => callback(null, { status: statusOf(name, isReady) }));
    },
    watch: (call) => {
      const max = deps.env.GRPC_HEALTH_MAX_WATCHERS;
      if (watchers.size >= max) {
        guard.counters.streamEnded('health_watchers_limit');
        call.emit(
          'error',
          toStreamError(
            new AppError('rate_limited', `more than ${max} health watchers (GRPC_HEALTH_MAX_WATCHERS)`, {
              retryAfterSeconds: 1,
            }),
            deps,
          ),
        );
        return;
      }
      let lease;
      try {
        lease = guard.openStream(call, undefined, () => undefined);
      } catch (err) {
        call.emit('error', toStreamError(err, deps));
        return;
      }
      const w: Watcher = { service: call.request.service, last: undefined, call };
      const held = lease;
      const stop = () => {
        watchers.delete(w);
        held.release();
        if (watchers.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      watchers.add(w);
      timer ??= setInterval(tick, intervalMs).unref();
      void ready().then((isReady) => push(w, isReady));
    },
  };
  return {
    service,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
