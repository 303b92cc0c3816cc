/** The five analyzers run over one cycle's aggregates into one report. */
import type { AnalysisReport } from '../intelligence/types';
import type { AnalyzerContext } from './context';
import { analyzePerformance } from './performance';
import { analyzeCost } from './cost';
import { analyzeQuality } from './quality';
import { analyzePattern } from './pattern';
import { analyzeAnomaly } from './anomaly';

export type { AnalyzerContext } from './context';

/** Run every analyzer and gather their findings, alerts most severe first. */
export function runAnalyzers(ctx: AnalyzerContext): AnalysisReport {
  const outputs = [
    analyzePerformance(ctx),
    analyzeCost(ctx),
    analyzeQuality(ctx),
    analyzePattern(ctx),
    analyzeAnomaly(ctx),
  ];
  const rank = { critical: 0, warning: 1, info: 2 } as const;
  return {
    target: ctx.target,
    generated_at: ctx.now,
    windows: ctx.range,
    insights: outputs.flatMap((o) => o.insights),
    recommendations: outputs.flatMap((o) => o.recommendations),
    alerts: outputs.flatMap((o) => o.alerts).sort((a, b) => rank[a.severity] - rank[b.severity]),
  };
}
