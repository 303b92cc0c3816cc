/**
 * Telemetry events as zod schemas: one tagged union on `type`, shared by the HTTP and
 * Kafka ingest paths, the OTLP mapping, the SDK and the OpenAPI document. Pure: no I/O, no clock (the
 * future-timestamp bound takes `now` as an argument), safe for workflow code.
 */
import { z } from 'zod';
import { ArmId, SegmentName, TargetName } from './model';
import { DEFAULT_SEGMENT } from './names';
import { isStorableText, LONE_SURROGATE_MESSAGE, NUL_MESSAGE, toStorableText } from './storable-text';

export * from './storable-text';

/** Events are small; a string field longer than this is a client bug, not data. */
const MAX_TEXT = 500;

const LONE_SURROGATE = /\p{Cs}/u;

/** A string schema refusing what cannot be stored (see isStorableText). */
const storable = (s: z.ZodString) =>
  s
    .refine((v) => !v.includes('\0'), NUL_MESSAGE)
    .refine((v) => !LONE_SURROGATE.test(v), LONE_SURROGATE_MESSAGE);

/** Idempotency key: any printable token; two events with one id count once, whatever else differs. */
export const EventId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/** Event time as an RFC 3339 timestamp with a zone ("2026-11-27T13:40:10.123Z" or "+01:00"). */
export const EventTimestamp = z.iso.datetime({ offset: true });

const text = (max = MAX_TEXT) => storable(z.string().min(1).max(max));
const nonNegative = (max: number) => z.number().min(0).max(max);
const count = (max: number) => z.number().int().min(0).max(max);

/** A day: no single LLM call, stream or dwell is longer; anything larger is a unit mistake (µs, ns). */
const MAX_MS = 86_400_000;
const MAX_TOKENS = 100_000_000;

/** Fields every event carries. `arm` and `config_version` are known when the app routed by a config. */
const envelope = {
  id: EventId,
  timestamp: EventTimestamp,
  target: TargetName,
  segment: SegmentName.default(DEFAULT_SEGMENT),
  arm: ArmId.optional(),
  config_version: z.number().int().positive().optional(),
  /** Free-form labels kept with the raw event (not aggregated). */
  attributes: z
    .record(z.string().max(100), z.union([storable(z.string().max(MAX_TEXT)), z.number(), z.boolean()]))
    .refine((r) => Object.keys(r).length <= 32, { message: 'at most 32 attributes' })
    // Checked here rather than by the key schema, whose failure zod reports only as "Invalid key".
    .superRefine((r, ctx) => {
      for (const key of Object.keys(r)) {
        if (isStorableText(key)) continue;
        const message = key.includes('\0') ? NUL_MESSAGE : LONE_SURROGATE_MESSAGE;
        ctx.addIssue({ code: 'custom', message: `attribute name ${message}`, path: [toStorableText(key)] });
      }
    })
    .optional(),
};

export const REQUEST_STATUSES = ['ok', 'error', 'timeout', 'rate_limited'] as const;
export const RequestStatus = z.enum(REQUEST_STATUSES);
export type RequestStatus = z.infer<typeof RequestStatus>;

export const LlmRequestEvent = z
  .object({
    type: z.literal('llm.request'),
    ...envelope,
    request_id: text(128),
    model: text(200),
    provider: text(100),
    latency_ms: nonNegative(MAX_MS),
    ttft_ms: nonNegative(MAX_MS).optional(),
    input_tokens: count(MAX_TOKENS),
    output_tokens: count(MAX_TOKENS),
    /** Computed from the price table (domain/pricing.ts) when absent. */
    cost_usd: nonNegative(1e6).optional(),
    status: RequestStatus.default('ok'),
    error_type: text(100).optional(),
    quality_score: z.number().min(0).max(1).optional(),
    cache_hit: z.boolean().optional(),
    batch_size: z.number().int().min(1).max(100_000).optional(),
  })
  // Zod runs this even when latency_ms itself failed; that failure is the one worth reporting then.
  .refine((e) => e.ttft_ms === undefined || !(e.latency_ms >= 0) || e.ttft_ms <= e.latency_ms, {
    message: 'ttft_ms cannot exceed latency_ms',
    path: ['ttft_ms'],
  });
export type LlmRequestEvent = z.infer<typeof LlmRequestEvent>;

export const UserFeedbackEvent = z.object({
  type: z.literal('user.feedback'),
  ...envelope,
  /** The llm.request this feedback is about; its arm gets the feedback when the event has none. */
  request_id: text(128),
  rating: z.number().min(0).max(1).optional(),
  thumbs: z.enum(['up', 'down']).optional(),
  task_completed: z.boolean().optional(),
  edited: z.boolean().optional(),
  regenerated: z.boolean().optional(),
  dwell_ms: nonNegative(MAX_MS).optional(),
  comment: storable(z.string().max(4000)).optional(),
});
export type UserFeedbackEvent = z.infer<typeof UserFeedbackEvent>;

export const EvalResultEvent = z
  .object({
    type: z.literal('eval.result'),
    ...envelope,
    request_id: text(128).optional(),
    dataset_item: text(200).optional(),
    /** Who scored: "llm-judge:claude", "human", "exact-match"... */
    evaluator: text(200),
    score: z.number().min(0).max(1),
  })
  .refine((e) => e.request_id !== undefined || e.dataset_item !== undefined, {
    message: 'request_id or dataset_item is required',
    path: ['request_id'],
  });
export type EvalResultEvent = z.infer<typeof EvalResultEvent>;

export const ExperimentExposureEvent = z.object({
  type: z.literal('experiment.exposure'),
  ...envelope,
  experiment_id: text(200),
  arm: ArmId,
  assignment_key: text(200),
});
export type ExperimentExposureEvent = z.infer<typeof ExperimentExposureEvent>;

export const SystemHealthEvent = z.object({
  type: z.literal('system.health'),
  ...envelope,
  component: text(200),
  status: z.enum(['ok', 'degraded', 'down']),
  queue_depth: count(1e12).optional(),
  error_rate: z.number().min(0).max(1).optional(),
});
export type SystemHealthEvent = z.infer<typeof SystemHealthEvent>;

export const EVENT_TYPES = [
  'llm.request',
  'user.feedback',
  'eval.result',
  'experiment.exposure',
  'system.health',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const TelemetryEvent = z.discriminatedUnion('type', [
  LlmRequestEvent,
  UserFeedbackEvent,
  EvalResultEvent,
  ExperimentExposureEvent,
  SystemHealthEvent,
]);
export type TelemetryEvent = z.infer<typeof TelemetryEvent>;
/** What a client sends: defaults (segment, status) may be omitted. */
export type TelemetryEventInput = z.input<typeof TelemetryEvent>;

/** Arm used for aggregates of events that name none (and whose request could not be joined). */
export const UNASSIGNED_ARM = 'unassigned';

/** How far ahead of the receiver's clock an event may be stamped (clock skew), by default. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;

export interface EventIssue {
  /** JSON path inside the event, e.g. "latency_ms" or "(root)". */
  path: string;
  message: string;
}

/** Why an event was refused, for metrics: a small fixed set, whatever the issues say. */
export const EVENT_REFUSALS = ['unknown_type', 'invalid_text', 'invalid_field', 'future_timestamp'] as const;
export type EventRefusal = (typeof EVENT_REFUSALS)[number];

export type EventCheck =
  { ok: true; event: TelemetryEvent; ts: number } | { ok: false; reason: EventRefusal; issues: EventIssue[] };

function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/**
 * Validates one raw event: schema, then the event-time bound (`now` is the receiver's clock). Every
 * issue names its field, so a batch answer can say "[3].latency_ms: must be >= 0".
 */
export function checkEvent(
  raw: unknown,
  now: number,
  maxFutureSkewMs = DEFAULT_MAX_FUTURE_SKEW_MS,
): EventCheck {
  const fast = fastLlmRequest(raw);
  if (fast) {
    const ts = Date.parse(fast.timestamp);
    if (ts <= now + maxFutureSkewMs) return { ok: true, event: fast, ts };
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const type = (raw as { type?: unknown }).type;
    if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
      return {
        ok: false,
        reason: 'unknown_type',
        issues: [
          {
            path: 'type',
            message:
              type === undefined
                ? `required; one of ${EVENT_TYPES.join(', ')}`
                : `unknown event type ${JSON.stringify(type).slice(0, 80)}; one of ${EVENT_TYPES.join(', ')}`,
          },
        ],
      };
    }
  }
  const r = TelemetryEvent.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: formatIssuePath(i.path), message: i.message }));
    const text = issues.some(
      (i) => i.message.endsWith(NUL_MESSAGE) || i.message.endsWith(LONE_SURROGATE_MESSAGE),
    );
    return { ok: false, reason: text ? 'invalid_text' : 'invalid_field', issues };
  }
  const ts = Date.parse(r.data.timestamp);
  if (ts > now + maxFutureSkewMs) {
    return {
      ok: false,
      reason: 'future_timestamp',
      issues: [
        {
          path: 'timestamp',
          message: `${Math.round((ts - now) / 1000)} s in the future; at most ${Math.round(maxFutureSkewMs / 1000)} s of clock skew is accepted`,
        },
      ],
    };
  }
  return { ok: true, event: r.data, ts };
}

/**
 * What z.iso.datetime({ offset: true }) accepts, written out: days that exist in their month (February
 * 29th in leap years only), hours 00-23, minutes and seconds 00-59, offsets within a day. Date.parse alone
 * rolls `2026-02-30` over to March 2nd, so it cannot be the check.
 */
const ISO_OFFSET = new RegExp(
  '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29' +
    '|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8])))' +
    'T(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)$',
);
const SLUG = /^[a-z0-9][a-z0-9._-]*$/;
const PRINTABLE_ID = /^[\x21-\x7e]+$/;
const REQUEST_KEYS = new Set([
  'type',
  'id',
  'timestamp',
  'target',
  'segment',
  'arm',
  'config_version',
  'request_id',
  'model',
  'provider',
  'latency_ms',
  'ttft_ms',
  'input_tokens',
  'output_tokens',
  'cost_usd',
  'status',
  'error_type',
  'quality_score',
  'cache_hit',
  'batch_size',
]);
const STATUSES = new Set<string>(REQUEST_STATUSES);

const isText = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && isStorableText(v);
const isSlug = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= 63 && SLUG.test(v);
const inRange = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isCount = (v: unknown, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;

/**
 * The common case at ingest rates: a well-formed llm.request, checked by hand about ten times faster
 * than the zod union. It only ever says "valid, and here is exactly what zod would return" or "ask zod"
 * (undefined): anything unusual (other types, unknown keys, attributes, any bad field) goes to zod,
 * which stays the single source of the rules and of the error messages.
 */
export function fastLlmRequest(raw: unknown): LlmRequestEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  if (o.type !== 'llm.request') return undefined;
  for (const k in o) if (!REQUEST_KEYS.has(k)) return undefined;
  if (!isText(o.id, 128) || !PRINTABLE_ID.test(o.id)) return undefined;
  if (
    typeof o.timestamp !== 'string' ||
    !ISO_OFFSET.test(o.timestamp) ||
    Number.isNaN(Date.parse(o.timestamp))
  )
    return undefined;
  if (!isSlug(o.target)) return undefined;
  if (o.segment !== undefined && !isSlug(o.segment)) return undefined;
  if (o.arm !== undefined && !isSlug(o.arm)) return undefined;
  if (
    o.config_version !== undefined &&
    !(Number.isSafeInteger(o.config_version) && (o.config_version as number) > 0)
  )
    return undefined;
  if (!isText(o.request_id, 128) || !isText(o.model, 200) || !isText(o.provider, 100)) return undefined;
  if (!inRange(o.latency_ms, 0, MAX_MS)) return undefined;
  if (o.ttft_ms !== undefined && !(inRange(o.ttft_ms, 0, MAX_MS) && o.ttft_ms <= o.latency_ms))
    return undefined;
  if (!isCount(o.input_tokens, MAX_TOKENS) || !isCount(o.output_tokens, MAX_TOKENS)) return undefined;
  if (o.cost_usd !== undefined && !inRange(o.cost_usd, 0, 1e6)) return undefined;
  if (o.status !== undefined && !(typeof o.status === 'string' && STATUSES.has(o.status))) return undefined;
  if (o.error_type !== undefined && !isText(o.error_type, 100)) return undefined;
  if (o.quality_score !== undefined && !inRange(o.quality_score, 0, 1)) return undefined;
  if (o.cache_hit !== undefined && typeof o.cache_hit !== 'boolean') return undefined;
  if (
    o.batch_size !== undefined &&
    !(
      Number.isSafeInteger(o.batch_size) &&
      (o.batch_size as number) >= 1 &&
      (o.batch_size as number) <= 100_000
    )
  ) {
    return undefined;
  }
  // Same key order as zod's output, so a stored event is byte-identical whichever path validated it.
  const e: Record<string, unknown> = {
    type: 'llm.request',
    id: o.id,
    timestamp: o.timestamp,
    target: o.target,
    segment: o.segment ?? DEFAULT_SEGMENT,
  };
  for (const k of [
    'arm',
    'config_version',
    'request_id',
    'model',
    'provider',
    'latency_ms',
    'ttft_ms',
    'input_tokens',
    'output_tokens',
    'cost_usd',
  ] as const) {
    if (o[k] !== undefined) e[k] = o[k];
  }
  e.status = o.status ?? 'ok';
  for (const k of ['error_type', 'quality_score', 'cache_hit', 'batch_size'] as const)
    if (o[k] !== undefined) e[k] = o[k];
  return e as LlmRequestEvent;
}
