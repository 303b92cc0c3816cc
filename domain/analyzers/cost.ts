/**
 * Cost analyzer: spend per segment and arm, cost per successful request, budget burn with a forecast
 * to the end of the budget's day, and cheaper arms of comparable quality.
 */
import { welchTLess } from '../stats/tests';
import type { AnalyzerOutput } from '../intelligence/types';
import { evidenceOf, finding, type AnalyzerContext } from './context';

const DAY_MS = 86_400_000;

export function analyzeCost(ctx: AnalyzerContext): AnalyzerOutput {
  const out: AnalyzerOutput = { insights: [], recommendations: [], alerts: [] };
  let total = 0;
  for (const [segment, arms] of ctx.summaries) {
    let segSpend = 0;
    for (const s of arms.values()) {
      segSpend += s.cost_usd;
      const windows = ctx.groups.get(`${segment}\u0000${s.arm}`) ?? [];
      if (s.count > 0)
        out.insights.push(
          finding(
            'cost',
            'spend_by_arm',
            'info',
            1,
            `${s.arm} in ${segment}: $${s.cost_usd.toFixed(4)} over ${s.count} requests, $${(s.cost_usd / Math.max(1, s.count - s.errors)).toPrecision(3)} per successful request`,
            evidenceOf(
              windows,
              {
                cost_usd: s.cost_usd,
                requests: s.count,
                cost_per_success_usd: s.cost_usd / Math.max(1, s.count - s.errors),
              },
              segment,
              s.arm,
            ),
          ),
        );
    }
    total += segSpend;
    // Cheaper arms whose quality is not significantly lower than the segment's most used arm.
    const list = [...arms.values()].filter((s) => s.count > 0 && s.quality.count >= 30);
    const main = list.sort((a, b) => b.count - a.count)[0];
    if (!main) continue;
    for (const s of list) {
      if (s === main || s.cost_usd / s.count >= (main.cost_usd / main.count) * 0.9) continue;
      const t = welchTLess(
        { count: main.quality.count, mean: main.quality.mean, variance: main.quality_variance },
        { count: s.quality.count, mean: s.quality.mean, variance: s.quality_variance },
      );
      if (t.p_value > 0.05 && s.quality.mean >= main.quality.mean * ctx.policy.quality_floor) {
        const saving = 1 - s.cost_usd / s.count / (main.cost_usd / main.count);
        out.recommendations.push(
          finding(
            'cost',
            'cheaper_comparable_arm',
            'info',
            1 - t.p_value,
            `${segment}: ${s.arm} costs ${(saving * 100).toFixed(0)}% less per request than ${main.arm} with quality ${s.quality.mean.toFixed(3)} vs ${main.quality.mean.toFixed(3)} (no significant drop, p = ${t.p_value.toPrecision(2)})`,
            evidenceOf(
              ctx.groups.get(`${segment}\u0000${s.arm}`) ?? [],
              {
                saving,
                quality_candidate: s.quality.mean,
                quality_current: main.quality.mean,
                p_value: t.p_value,
              },
              segment,
              s.arm,
            ),
          ),
        );
      }
    }
  }
  const budget = ctx.policy.budget_usd_per_day;
  if (budget !== undefined && ctx.range.count > 0) {
    const now = Date.parse(ctx.now);
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    const dayStartIso = new Date(dayStart).toISOString();
    // ISO-8601 UTC strings order like their instants, so no per-row parsing is needed.
    const today = ctx.aggregates.filter((a) => a.window_start >= dayStartIso);
    const spentToday = today.reduce((a, w) => a + w.cost_usd, 0);
    const spanMs = Date.parse(ctx.range.to) - Date.parse(ctx.range.from);
    const rate = spanMs > 0 ? total / spanMs : 0;
    const forecast = spentToday + rate * (dayStart + DAY_MS - now);
    const burn = forecast / budget;
    const ev = evidenceOf(
      ctx.range,
      { spent_today_usd: spentToday, forecast_usd: forecast, budget_usd: budget, burn },
      null,
      null,
    );
    if (burn > 1)
      out.alerts.push(
        finding(
          'cost',
          'budget_overrun_forecast',
          burn > 1.25 ? 'critical' : 'warning',
          0.8,
          `spend forecast to the end of the day $${forecast.toFixed(2)} exceeds the $${budget} daily budget (${(burn * 100).toFixed(0)}%)`,
          ev,
        ),
      );
    else
      out.insights.push(
        finding(
          'cost',
          'budget_burn',
          'info',
          0.8,
          `spend forecast to the end of the day $${forecast.toFixed(2)}, ${(burn * 100).toFixed(0)}% of the $${budget} budget`,
          ev,
        ),
      );
  }
  return out;
}
