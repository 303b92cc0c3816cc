import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TargetPolicy } from '../../../domain/model';
import { coordinate, type CoordinatorContext } from '../../../domain/intelligence/coordinator';
import type { Candidate } from '../../../domain/intelligence/types';

const candidate = (segment: string, arm: string, cost: number, confidence: number): Candidate => ({
  strategy: 'cost_reduction',
  kind: 'cost_reduction',
  segment,
  canary_arm: arm,
  baseline_arm: 'big',
  from_weights: { big: 10000 },
  to_weights: { [arm]: 9000, big: 1000 },
  expected_impact: {
    cost: { relative: cost, low: cost, high: cost },
    latency: null,
    quality: { relative: -0.01, low: -0.03, high: 0.01 },
  },
  confidence,
  numbers: {},
  rationale: `${arm} is cheaper`,
});

const ctx = (segments: string[], over: Partial<CoordinatorContext> = {}): CoordinatorContext => ({
  target: 'support-bot',
  policy: TargetPolicy.parse({ quality_floor: 0.95 }),
  routing: Object.fromEntries(segments.map((s) => [s, { version: 2, weights: { big: 10000 } }])),
  active_rollouts: [],
  min_confidence: 0.8,
  max_concurrent_rollouts: 5,
  daily_spend_usd: null,
  planned_quality_ratio: null,
  hold_reasons: {},
  traffic_share: {},
  ...over,
});

describe('coordinator', () => {
  it('takes one change per segment: the larger confident saving', () => {
    const out = coordinate(
      [candidate('a', 'small', -0.5, 0.95), candidate('a', 'tiny', -0.8, 0.95)],
      ctx(['a']),
    );
    expect(out).toHaveLength(1);
    expect(out[0]!.canary_arm).toBe('tiny');
    expect(out[0]!.rollback_plan).toMatch(/version 2/);
  });

  it('stops at the maximum of concurrent rollouts and says so', () => {
    const out = coordinate(
      [candidate('a', 'small', -0.5, 0.95), candidate('b', 'small', -0.5, 0.95)],
      ctx(['a', 'b'], { active_rollouts: [], max_concurrent_rollouts: 1 }),
    );
    expect(out.map((d) => d.kind)).toEqual(['cost_reduction', 'no_action']);
    expect(out[1]!.explanation).toMatch(/max_concurrent_rollouts \(1 rollouts in flight, maximum 1\)/);
  });

  it('rejects a change below the minimum confidence or the quality floor', () => {
    const weak = candidate('a', 'small', -0.5, 0.6);
    const worse = {
      ...candidate('b', 'small', -0.5, 0.95),
      expected_impact: { cost: null, latency: null, quality: { relative: -0.1, low: -0.12, high: -0.08 } },
    };
    const out = coordinate([weak, worse], ctx(['a', 'b']));
    expect(out.map((d) => d.kind)).toEqual(['no_action', 'no_action']);
    expect(out[0]!.explanation).toMatch(/min_confidence/);
    expect(out[1]!.explanation).toMatch(/quality_floor/);
  });

  it('never emits two routing changes for one segment, whatever the candidates (property)', () => {
    const cand = fc.record({
      segment: fc.constantFrom('a', 'b', 'c'),
      arm: fc.constantFrom('x', 'y', 'z'),
      cost: fc.double({ min: -1, max: 0.5, noNaN: true }),
      conf: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(fc.array(cand, { maxLength: 12 }), fc.subarray(['a', 'b', 'c']), (cs, active) => {
        const out = coordinate(
          cs.map((c) => candidate(c.segment, c.arm, c.cost, c.conf)),
          ctx(['a', 'b', 'c'], { active_rollouts: active }),
        );
        expect(out.map((d) => d.segment).sort()).toEqual(['a', 'b', 'c']);
        for (const d of out) if (active.includes(d.segment)) expect(d.kind).toBe('no_action');
      }),
    );
  });
});
