/**
 * The dashboards (infra/deploy/grafana/*.json) and alert rules (infra/deploy/prometheus/alerts.yaml) as
 * data: their PromQL expressions, and the metric names each expression reads. Shared by the deployment
 * test that validates them with promtool and the process test that checks every name against what the
 * running processes expose.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEPLOY_DIR } from './tools';

export const GRAFANA_DIR = join(DEPLOY_DIR, 'grafana');
export const PROMETHEUS_DIR = join(DEPLOY_DIR, 'prometheus');
export const ALERTS_FILE = join(PROMETHEUS_DIR, 'alerts.yaml');
export const ALERT_TESTS_FILE = join(PROMETHEUS_DIR, 'alerts.test.yaml');

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
}

export interface Dashboard {
  file: string;
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query?: unknown }[] };
  panels: Panel[];
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string } & Record<string, string>;
  annotations: { summary: string; description: string };
}

export function dashboards(): Dashboard[] {
  return readdirSync(GRAFANA_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      ...(JSON.parse(readFileSync(join(GRAFANA_DIR, file), 'utf8')) as Omit<Dashboard, 'file'>),
      file,
    }));
}

export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** Grafana's variables as a dashboard's queries use them, replaced by values Prometheus accepts. */
export function withoutVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replace(/\$\{?[a-z_]+\}?/g, '.*');
}

/** Every query of every dashboard panel, Grafana variables replaced. */
export function dashboardQueries(): { where: string; expr: string }[] {
  return dashboards().flatMap((d) =>
    d.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        where: `${d.file} panel ${p.id} "${p.title}" ${t.refId}`,
        expr: withoutVariables(t.expr),
      })),
    ),
  );
}

/** PromQL words that look like names: operators, modifiers and aggregation clauses. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names an expression reads. Strings, label matchers, grouping clauses and range durations
 * are cut out first; what is left that looks like a name and is not a function call or a keyword is a
 * metric name.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}

/**
 * The names a Prometheus text exposition offers to queries: each sample's name, and for a family with
 * no sample yet (a labelled metric nothing has counted) its declared name and, for a histogram or a
 * summary, its series names.
 */
export function exposedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      names.add(name!);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name! + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
