/**
 * The alert rules (infra/deploy/prometheus/alerts.yaml) and the Grafana dashboards
 * (infra/deploy/grafana/*.json) with Prometheus's own promtool (built by infra/deploy/tools.sh):
 * `promtool check rules`, `promtool test rules` over alerts.test.yaml, and every dashboard query parsed
 * as PromQL by the same check. Whether the metrics they name exist is tests/process/metric-names.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROJECT_ROOT } from '../../platform/paths';
import { ALERTS_FILE, ALERT_TESTS_FILE, alertRules, dashboardQueries, dashboards } from './observability';
import { INSTALL_TIMEOUT_MS, installTools, run, type Tools } from './tools';

const tmp = mkdtempSync(join(tmpdir(), 'llmopt-alerts-'));
let tools: Tools;

interface AlertTests {
  rule_files: string[];
  tests: {
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: { exp_labels: object }[] }[];
  }[];
}

beforeAll(async () => {
  tools = await installTools();
}, INSTALL_TIMEOUT_MS);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the alert rules', () => {
  it('pass promtool check rules', async () => {
    const r = await run(tools.PROMTOOL, ['check', 'rules', ALERTS_FILE]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('pass their unit tests: each alert fires on its situation, and one is quiet on a look-alike', async () => {
    const r = await run(tools.PROMTOOL, ['test', 'rules', ALERT_TESTS_FILE]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);

    const doc = parse(readFileSync(ALERT_TESTS_FILE, 'utf8')) as AlertTests;
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alertRules()) {
      const own = cases.filter((c) => c.alertname === alert);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} has a test where it fires`,
      ).toBe(true);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} has a test where it stays quiet`,
      ).toBe(true);
    }
  });

  it('fail their unit tests when an expectation is wrong (the test is live)', async () => {
    const doc = parse(readFileSync(ALERT_TESTS_FILE, 'utf8')) as AlertTests;
    const firing = doc.tests.find((t) => t.alert_rule_test?.some((c) => (c.exp_alerts ?? []).length > 0))!;
    for (const c of firing.alert_rule_test!) c.exp_alerts = [];
    const file = join(tmp, 'wrong.test.yaml');
    writeFileSync(file, stringify({ ...doc, rule_files: [ALERTS_FILE], tests: [firing] }));
    const r = await run(tools.PROMTOOL, ['test', 'rules', file]);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/FAILED/);
  });

  it('page or ticket, with a summary, and each has its section in docs/operations.md', () => {
    const operations = readFileSync(join(PROJECT_ROOT, 'docs', 'operations.md'), 'utf8');
    const rules = alertRules();
    expect(rules.length).toBeGreaterThanOrEqual(10);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(['page', 'ticket'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(operations, `docs/operations.md explains ${r.alert}`).toContain(`#### ${r.alert}`);
    }
  });
});

describe('the Grafana dashboards', () => {
  it('cover the data plane, decisions and rollouts, API and gateway, and the Temporal workers', () => {
    const all = dashboards();
    expect(all.map((d) => d.file)).toEqual([
      'api-gateway.json',
      'data-plane.json',
      'decisions-rollouts.json',
      'temporal-workers.json',
    ]);
    expect(new Set(all.map((d) => d.uid)).size).toBe(all.length);
    for (const d of all) {
      // The data source is chosen at import: no uid of one Grafana is baked in.
      expect(d.templating.list.find((v) => v.name === 'datasource')?.type, d.file).toBe('datasource');
      const ids = d.panels.map((p) => p.id);
      expect(new Set(ids).size, `${d.file}: panel ids are unique`).toBe(ids.length);
      for (const p of d.panels) {
        expect(
          p.gridPos.x + p.gridPos.w,
          `${d.file} "${p.title}" fits the 24-column grid`,
        ).toBeLessThanOrEqual(24);
        if (p.type === 'row') continue;
        expect(p.datasource?.uid, `${d.file} "${p.title}"`).toBe('${datasource}');
        expect(p.targets?.length, `${d.file} "${p.title}" has a query`).toBeGreaterThan(0);
      }
    }
    const workers = all.find((d) => d.file === 'temporal-workers.json')!;
    const exprs = workers.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    for (const sdkMetric of [
      'temporal_workflow_task_schedule_to_start_latency',
      'temporal_activity_schedule_to_start_latency',
      'temporal_worker_task_slots_available',
      'temporal_num_pollers',
    ])
      expect(
        exprs.some((e) => e.includes(sdkMetric)),
        sdkMetric,
      ).toBe(true);
  });

  it('query in valid PromQL (each query checked by promtool as a recording rule)', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(40);
    const file = join(tmp, 'dashboard-queries.yaml');
    const rules = queries.map((q, i) => ({ record: `dashboard_query:${i}`, expr: q.expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
    const r = await run(tools.PROMTOOL, ['check', 'rules', file]);
    const out = `${r.stdout}${r.stderr}`;
    // promtool names a failing rule by its index: say which panel that is.
    const failing = [...out.matchAll(/rule (\d+)/g)].map((m) => queries[Number(m[1]) - 1]?.where);
    expect(out, failing.join('\n')).toMatch(new RegExp(`SUCCESS: ${queries.length} rules found`));
    expect(r.code).toBe(0);
  });

  it('fail the PromQL check on a broken query (the check is live)', async () => {
    const file = join(tmp, 'broken.yaml');
    writeFileSync(
      file,
      stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (le (rate(x[5m]))' }] }] }),
    );
    const r = await run(tools.PROMTOOL, ['check', 'rules', file]);
    expect(r.code).not.toBe(0);
  });
});
