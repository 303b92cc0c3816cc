/**
 * Webhook signatures. A delivery carries `X-LLMOpt-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`,
 * each v1 an HMAC-SHA256 over `${t}.${body}` with one of the subscription's secrets (two during a
 * rotation's overlap). A receiver accepts when any v1 matches and t is recent, which defeats replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-llmopt-signature';
export const EVENT_ID_HEADER = 'x-llmopt-event-id';
export const EVENT_TYPE_HEADER = 'x-llmopt-event-type';
export const DELIVERY_ID_HEADER = 'x-llmopt-delivery-id';
export const ATTEMPT_HEADER = 'x-llmopt-delivery-attempt';

export function hmacHex(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

/** The signature header value for a body signed at `timestamp` (unix seconds) with every secret given. */
export function signatureHeader(body: string, timestamp: number, secrets: readonly string[]): string {
  if (secrets.length === 0) throw new Error('a delivery is never sent unsigned');
  return [`t=${timestamp}`, ...secrets.map((s) => `v1=${hmacHex(s, `${timestamp}.${body}`)}`)].join(',');
}

/** Receiver-side check (the README snippet): true when a v1 matches and t is within `toleranceSeconds`. */
export function verifySignature(
  header: string | null | undefined,
  body: string,
  secret: string,
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  if (!header) return false;
  const parts = header.split(',').map((p) => p.trim().split('=') as [string, string?]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) return false;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(hmacHex(secret, `${t}.${body}`), 'hex');
  return parts.some(([k, v]) => {
    if (k !== 'v1' || !v || !/^[0-9a-f]{64}$/.test(v)) return false;
    return timingSafeEqual(Buffer.from(v, 'hex'), expected);
  });
}
