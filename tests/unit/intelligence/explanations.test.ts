/**
 * Explanations are true sentences about their decisions: "move" only when the segment's primary arm
 * changes, an exploration says it explores (which arms, what share, why), and an arm without quality
 * samples is described as unknown, never with a share of posterior draws. Checked as properties over
 * generated candidates and over whole generated cycles, with the reported case pinned as an example.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TOTAL_BASIS_POINTS, TargetPolicy, type Weights } from '../../../domain/model';
import { runIntelligence } from '../../../domain/intelligence/cycle';
import { explainChange, unknownArm } from '../../../domain/intelligence/explain';
import type { Candidate, DecisionDraft } from '../../../domain/intelligence/types';
import { primaryArm } from '../../../domain/strategies/arm-stats';
import { apportion } from '../../../domain/strategies/model-selection';
import { arm, at, series, type Truth } from './fixtures';

const ARMS = ['arm-a', 'arm-b', 'arm-c', 'arm-d'] as const;
const policy = TargetPolicy.parse({ quality_floor: 0.95 });
const STAGES = [500, 2500, 5000, 10_000];

/** The arm that serves most of the segment once the decision is carried out. */
function primaryAfter(d: Pick<DecisionDraft, 'kind' | 'canary_arm' | 'to_weights'>): string | null {
  if (!d.to_weights) return null;
  return d.kind !== 'exploration' && d.canary_arm ? d.canary_arm : primaryArm(d.to_weights);
}

const moves = (text: string) => /\bMove\b/.test(text);

/** Whole weights over `arms` from positive relative shares. */
const weightsOf = (arms: readonly string[], shares: readonly number[]): Weights =>
  apportion(
    TOTAL_BASIS_POINTS,
    arms.map((a, i) => [a, shares[i]!] as [string, number]),
  );

const weightsArb = fc
  .array(fc.integer({ min: 0, max: 100 }), { minLength: ARMS.length, maxLength: ARMS.length })
  .filter((xs) => xs.some((x) => x > 0))
  .map((xs) => weightsOf(ARMS, xs));

const candidateArb: fc.Arbitrary<Candidate> = fc
  .record({
    kind: fc.constantFrom('exploration', 'model_switch', 'cost_reduction', 'prompt_variant' as const),
    from: weightsArb,
    to: weightsArb,
    canary: fc.constantFrom(...ARMS),
    confidence: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ kind, from, to, canary, confidence }) => {
    // An exploration keeps the primary: its target weights give the primary the largest share.
    const toWeights =
      kind === 'exploration'
        ? weightsOf(
            ARMS,
            ARMS.map((a) => (a === primaryArm(from) ? TOTAL_BASIS_POINTS : (to[a] ?? 0))),
          )
        : to;
    return {
      strategy: 'model_selection',
      kind,
      segment: 'default',
      canary_arm: canary,
      baseline_arm: primaryArm(from),
      from_weights: from,
      to_weights: toWeights,
      expected_impact: { cost: null, latency: null, quality: null },
      confidence,
      numbers: {},
      rationale: 'a reason',
    } satisfies Candidate;
  });

describe('explainChange', () => {
  it('says "move" exactly when the primary arm changes, and names it before and after (property)', () => {
    fc.assert(
      fc.property(candidateArb, (c) => {
        const text = explainChange(c, STAGES);
        const before = primaryArm(c.from_weights!);
        const after = primaryAfter(c)!;
        expect(moves(text)).toBe(before !== after);
        if (before !== after)
          expect(text.startsWith(`Move segment default from ${before} to ${after} `)).toBe(true);
        else expect(text).toContain(`while ${after} stays primary`);
      }),
      { numRuns: 300 },
    );
  });

  it('describes an exploration as exploring, applied without a canary (property)', () => {
    fc.assert(
      fc.property(
        candidateArb.filter((c) => c.kind === 'exploration'),
        (c) => {
          const text = explainChange(c, STAGES);
          expect(
            text.startsWith(`Explore in segment default while ${primaryArm(c.from_weights!)} stays primary`),
          ).toBe(true);
          expect(text).toContain('Applied at once, without a canary');
          expect(text).not.toMatch(/canary of/);
        },
      ),
      { numRuns: 100 },
    );
  });
});

interface World {
  arms: string[];
  served: boolean[];
  truths: Truth[];
  primary: number;
  explore: boolean;
  segments: string[];
  windows: number;
  perWindow: number;
  seed: number;
}

const truthArb = fc.record({
  quality: fc.double({ min: 0.4, max: 0.95, noNaN: true }),
  cost: fc.double({ min: 0.0002, max: 0.02, noNaN: true }),
  medianMs: fc.integer({ min: 200, max: 2000 }),
  errorRate: fc.constant(0.01),
});

const worldArb: fc.Arbitrary<World> = fc.integer({ min: 2, max: ARMS.length }).chain((n) =>
  fc.record({
    arms: fc.constant(ARMS.slice(0, n) as string[]),
    served: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    truths: fc.array(truthArb, { minLength: n, maxLength: n }),
    primary: fc.integer({ min: 0, max: n - 1 }),
    explore: fc.boolean(),
    segments: fc.constantFrom(['default'], ['default', 'summarize']),
    windows: fc.integer({ min: 2, max: 8 }),
    perWindow: fc.integer({ min: 10, max: 120 }),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
  }),
);

function decide(w: World): { decisions: DecisionDraft[]; unknown: string[] } {
  const primary = w.arms[w.primary]!;
  const weights: Weights = w.explore
    ? weightsOf(
        w.arms,
        w.arms.map((a) => (a === primary ? 90 : 10 / (w.arms.length - 1))),
      )
    : { [primary]: TOTAL_BASIS_POINTS };
  const aggregates = w.segments.flatMap((segment, s) =>
    w.arms.flatMap((a, i) =>
      // An arm that never served has no window at all, as for a target's new arm.
      w.served[i] && (weights[a] ?? 0) > 0
        ? series(segment, a, w.windows, w.perWindow, () => w.truths[i]!, w.seed + 31 * s + i)
        : [],
    ),
  );
  const sampled = new Set(aggregates.filter((g) => g.quality.count > 0).map((g) => g.arm));
  const out = runIntelligence({
    target: 'support-bot',
    policy,
    arms: w.arms.map(arm),
    routing: Object.fromEntries(w.segments.map((s) => [s, { version: 1, weights }])),
    aggregates,
    active_rollouts: [],
    now: at(w.windows),
    seed: w.seed,
  });
  return { decisions: out.decisions, unknown: w.arms.filter((a) => !sampled.has(a)) };
}

/** Clauses of an explanation: what one statement says, between its separators. */
const clauses = (text: string) => text.split(/; |: |\. |, /);

describe('decisions of generated cycles', () => {
  it('say "move" only when the primary arm changes, and always when it does (property)', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        for (const d of decide(w).decisions) {
          const before = d.from_weights ? primaryArm(d.from_weights) : null;
          const after = primaryAfter(d);
          const changes = after !== null && before !== null && after !== before;
          expect(moves(d.explanation), d.explanation).toBe(changes);
          if (d.kind === 'exploration') {
            expect(after).toBe(before);
            expect(d.explanation).toMatch(/^Explore in segment \S+ while \S+ stays primary/);
            expect(d.explanation).toMatch(/exploration (grows|shrinks|stays)/);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('describe an arm without quality samples as unknown, never by a share of posterior draws (property)', () => {
    let unknownSeen = 0;
    fc.assert(
      fc.property(worldArb, (w) => {
        const { decisions, unknown } = decide(w);
        for (const d of decisions) {
          for (const u of unknown) {
            for (const clause of clauses(d.explanation))
              if (clause.includes(u) && /posterior draws|optimal/.test(clause))
                expect(clause, d.explanation).toMatch(/unknown/);
            const primary = d.from_weights ? primaryArm(d.from_weights) : null;
            // Where model selection reasons about the arms (an exploration, a hold), an unknown one is named so.
            const reasons =
              d.kind === 'exploration'
                ? u !== primary
                : d.kind === 'no_action' && / stays: /.test(d.explanation);
            if (reasons) {
              unknownSeen++;
              expect(d.explanation).toContain(unknownArm(u));
            }
          }
          expect(d.explanation).not.toMatch(/optimal in 0\.0% of posterior draws/);
        }
      }),
      { numRuns: 60 },
    );
    // The property was exercised, not vacuous.
    expect(unknownSeen).toBeGreaterThan(10);
  });

  it('explains the reported case truthfully: a never-served arm gets an exploration share', () => {
    const aggregates = series(
      'default',
      'gpt-4o',
      6,
      100,
      () => ({
        quality: 0.85,
        cost: 0.01,
        medianMs: 800,
        errorRate: 0.01,
      }),
      3,
    );
    const out = runIntelligence({
      target: 'support-bot',
      policy,
      arms: [arm('gpt-4o'), arm('haiku')],
      routing: { default: { version: 1, weights: { 'gpt-4o': TOTAL_BASIS_POINTS } } },
      aggregates,
      active_rollouts: [],
      now: at(6),
      seed: 1,
    });
    const [d] = out.decisions;
    expect(d!.kind).toBe('exploration');
    expect(d!.explanation).toMatch(
      /^Explore in segment default while gpt-4o stays primary \(model_selection\): /,
    );
    expect(d!.explanation).toContain(`${unknownArm('haiku')} 0% → 1%`);
    expect(d!.explanation).toContain('exploration grows from 0% to 1% of traffic');
    expect(d!.explanation).not.toMatch(/\bMove\b|posterior draws/);
  });
});
