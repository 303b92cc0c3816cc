/**
 * kafkajs 2.2.4 keeps a 1 ms timer running forever on every broker connection (tulios/kafkajs#1556,
 * fix proposed in tulios/kafkajs#1667, unreleased): after each check of its pending requests, RequestQueue schedules
 * the next one even when nothing is pending, with a negative delay. Idle, each process that talks to
 * Kafka spent about 4 % of a core on it; under load the timer runs between every two HTTP requests.
 *
 * This replaces that one method with the fixed one: a check is scheduled only while requests are pending
 * (at the end of a broker throttle, else after 10 ms, as kafkajs does). Nothing pending needs no timer:
 * a pushed request schedules its own check, and every answered request checks the queue.
 * Applied once, to the version it was written for; `kafkajsIdleTimerFixed()` tells whether it is.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const FIXED_VERSION = '2.2.4';
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

let fixed = false;

function apply(): void {
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== FIXED_VERSION) return; // another release: its own code stands (see the test)
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
    prototype: RequestQueueInternals;
  };
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(
    this: RequestQueueInternals,
  ) {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const throttled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      throttled > 0 ? throttled : CHECK_PENDING_REQUESTS_INTERVAL_MS,
    );
  };
  fixed = true;
}

apply();

export const kafkajsIdleTimerFixed = (): boolean => fixed;
