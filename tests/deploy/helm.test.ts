/**
 * The Helm chart (infra/deploy/helm/llm-auto-optimizer): `helm lint --strict`, `helm template`, the
 * rendered manifests checked offline against the Kubernetes schemas of the oldest and newest versions the
 * chart supports (kubernetes-validate, strict: unknown fields fail) and the ServiceMonitor against the
 * Prometheus Operator's CRD schema; then what each object must do for the processes to run safely.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEPLOY_DIR,
  INSTALL_TIMEOUT_MS,
  installTools,
  parseYaml,
  run,
  validateSchema,
  type Tools,
} from './tools';

const CHART = join(DEPLOY_DIR, 'helm', 'llm-auto-optimizer');
const KUBERNETES_VERSIONS = ['1.27.0', '1.37.0'];
const SECRET = 'llmopt-secrets';
const PROCESSES: Record<string, string> = {
  api: 'dist/api/main.mjs',
  stream: 'dist/workers/stream.mjs',
  orchestration: 'dist/workers/orchestration.mjs',
  analysis: 'dist/workers/analysis.mjs',
  integrations: 'dist/workers/integrations.mjs',
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // The tests read deep into specs of several kinds; the schema check above already holds their shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec: any;
}

const tmp = mkdtempSync(join(tmpdir(), 'llmopt-helm-'));
let tools: Tools;

// helm built by `go install` assumes Kubernetes 1.20 (the release build stamps a newer one): name it.
const KUBE_VERSION = ['--kube-version', KUBERNETES_VERSIONS.at(-1)!];

async function template(...sets: string[]): Promise<Manifest[]> {
  return templateFor(KUBERNETES_VERSIONS.at(-1)!, ...sets);
}

async function templateFor(kubeVersion: string, ...sets: string[]): Promise<Manifest[]> {
  const r = await run(tools.HELM, [
    'template',
    'llmopt',
    CHART,
    '--kube-version',
    kubeVersion,
    '--namespace',
    'llmopt',
    '--set',
    `secret.existingSecret=${SECRET}`,
    ...sets.flatMap((s) => ['--set', s]),
  ]);
  if (r.code !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return (await parseYaml(tools, r.stdout)) as Manifest[];
}

const named = (manifests: Manifest[], kind: string, name: string) =>
  manifests.find((m) => m.kind === kind && m.metadata.name === name);

let manifests: Manifest[];
beforeAll(async () => {
  tools = await installTools();
  manifests = await template();
}, INSTALL_TIMEOUT_MS);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the Helm chart', () => {
  it('passes helm lint --strict', async () => {
    const r = await run(tools.HELM, [
      'lint',
      '--strict',
      CHART,
      ...KUBE_VERSION,
      '--set',
      `secret.existingSecret=${SECRET}`,
    ]);
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.code).toBe(0);
  });

  it('renders manifests valid against the Kubernetes schemas, strictly', async () => {
    for (const version of KUBERNETES_VERSIONS) {
      const core = (await templateFor(version)).filter(
        (m) => !m.apiVersion.startsWith('monitoring.coreos.com/'),
      );
      // One document per file, named after it, so a failure names the object: JSON is YAML to the validator.
      const files = core.map((m, i) => {
        const file = join(tmp, `${version}-${i}-${m.kind}-${m.metadata.name}.json`);
        writeFileSync(file, JSON.stringify(m));
        return file;
      });
      const r = await run(tools.KUBERNETES_VALIDATE, ['--strict', '--quiet', '-k', version, ...files]);
      expect(`${r.stdout}${r.stderr}`, version).toBe('');
      expect(r.code).toBe(0);
      expect(core.length).toBeGreaterThan(15);
    }
  });

  it('fails the Kubernetes schema check on a wrong manifest (the check is live)', async () => {
    const deployment = structuredClone(named(manifests, 'Deployment', 'llmopt-llm-auto-optimizer-api')!);
    deployment.spec.template.spec.containers[0].livenessProbe.httpGet.paht = '/healthz';
    const file = join(tmp, 'wrong.json');
    writeFileSync(file, JSON.stringify(deployment));
    const r = await run(tools.KUBERNETES_VALIDATE, ['--strict', '--quiet', '-k', '1.37.0', file]);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/paht/);
  });

  it('renders a ServiceMonitor valid against the Prometheus Operator CRD, scraping the API', async () => {
    const monitors = manifests.filter((m) => m.kind === 'ServiceMonitor');
    expect(monitors).toHaveLength(1);
    expect(await validateSchema(tools, tools.SERVICEMONITOR_CRD, monitors, 'crd')).toEqual([]);
    const wrong = structuredClone(monitors[0]!);
    wrong.spec.endpoints[0].scrapeEvery = '30s';
    expect((await validateSchema(tools, tools.SERVICEMONITOR_CRD, [wrong], 'crd')).join('\n')).toMatch(
      /scrapeEvery/,
    );
    const service = named(manifests, 'Service', 'llmopt-llm-auto-optimizer-api')!;
    expect(monitors[0]!.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(monitors[0]!.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
  });

  it('runs each process as its own Deployment with replicas, resources, probes, non-root and read-only', () => {
    const deployments = manifests.filter((m) => m.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      Object.keys(PROCESSES)
        .map((p) => `llmopt-llm-auto-optimizer-${p}`)
        .sort(),
    );
    for (const [process, entry] of Object.entries(PROCESSES)) {
      const pod = named(manifests, 'Deployment', `llmopt-llm-auto-optimizer-${process}`)!.spec.template.spec;
      const [container] = pod.containers;
      expect(container.args).toEqual([entry]);
      expect(container.resources.requests.cpu).toBeDefined();
      expect(container.resources.limits.memory).toBeDefined();
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      expect(container.envFrom).toEqual([{ secretRef: { name: SECRET } }]);
      if (process === 'api') {
        expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
        expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      } else {
        // The workers' health server listens on 127.0.0.1 in the pod: probed from inside it.
        expect(container.livenessProbe.exec.command).toEqual([
          'node',
          'dist/infra/deploy/healthcheck.mjs',
          '/healthz',
        ]);
        expect(container.readinessProbe.exec.command).toEqual([
          'node',
          'dist/infra/deploy/healthcheck.mjs',
          '/readyz',
        ]);
        expect(container.env).toContainEqual({ name: 'HEALTH_PORT', value: '9101' });
      }
    }
    // A process without an autoscaler keeps the replica count of its values.
    expect(named(manifests, 'Deployment', 'llmopt-llm-auto-optimizer-integrations')!.spec.replicas).toBe(1);
    expect(manifests.some((m) => m.kind === 'Secret')).toBe(false);
  });

  it('gives every process a PodDisruptionBudget, and autoscales the stream up to the partition count', async () => {
    for (const process of Object.keys(PROCESSES))
      expect(named(manifests, 'PodDisruptionBudget', `llmopt-llm-auto-optimizer-${process}`)).toBeDefined();
    const four = await template('processes.stream.kafkaPartitions=4');
    const hpa = named(four, 'HorizontalPodAutoscaler', 'llmopt-llm-auto-optimizer-stream')!;
    expect(hpa.spec.maxReplicas).toBe(4);
    expect(hpa.spec.metrics[0].resource).toMatchObject({ name: 'cpu' });
    expect(named(four, 'Deployment', 'llmopt-llm-auto-optimizer-stream')!.spec.replicas).toBeUndefined();
  });

  it('autoscales a worker on its Temporal task-queue backlog, and only a worker', async () => {
    const rendered = await template(
      'processes.orchestration.autoscaling.enabled=true',
      'processes.orchestration.autoscaling.metric=backlog',
    );
    const hpa = named(rendered, 'HorizontalPodAutoscaler', 'llmopt-llm-auto-optimizer-orchestration')!;
    expect(hpa.spec.metrics).toEqual([
      {
        type: 'External',
        external: {
          metric: {
            name: 'temporal_approximate_backlog_count',
            selector: { matchLabels: { task_queue: 'optimizer-orchestration' } },
          },
          target: { type: 'AverageValue', averageValue: '100' },
        },
      },
    ]);
    await expect(template('processes.stream.autoscaling.metric=backlog')).rejects.toThrow(
      /processes.stream.autoscaling.metric: backlog applies to the Temporal workers only/,
    );
  });

  it('migrates in a hook Job before install and upgrade, with the same secrets', () => {
    const job = named(manifests, 'Job', 'llmopt-llm-auto-optimizer-migrate')!;
    expect(job.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade' });
    const pod = job.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.containers[0].args).toEqual(['dist/infra/deploy/migrate.mjs']);
    expect(pod.containers[0].envFrom).toEqual([{ secretRef: { name: SECRET } }]);
    // Hooks run before the release's other objects exist: the Job may name none of them.
    expect(pod.serviceAccountName).toBeUndefined();
  });

  it('refuses to render without an existing Secret, naming the value', async () => {
    const r = await run(tools.HELM, ['template', 'llmopt', CHART, ...KUBE_VERSION]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/secret\.existingSecret: name an existing Secret/);
  });

  it('denies ingress to every pod but the API, and restricts egress when asked', async () => {
    const policies = manifests.filter((m) => m.kind === 'NetworkPolicy');
    const deny = policies.find((p) => p.metadata.name.endsWith('default-deny-ingress'))!;
    expect(deny.spec).toMatchObject({ policyTypes: ['Ingress'] });
    expect(deny.spec.ingress).toBeUndefined();
    const api = policies.find((p) => p.metadata.name.endsWith('api-ingress'))!;
    expect(api.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('api');
    const egress = (await template('networkPolicy.egress.enabled=true')).find((m) =>
      m.metadata.name.endsWith('-egress'),
    )!;
    expect(egress.spec.egress[0].ports).toContainEqual({ port: 53, protocol: 'UDP' });
  });

  it('documents every top-level value', () => {
    const lines = readFileSync(join(CHART, 'values.yaml'), 'utf8').split('\n');
    for (const [i, line] of lines.entries())
      if (/^\w+:/.test(line))
        expect(/^#/.test(lines[i - 1] ?? '') || /^\s+#/.test(lines[i + 1] ?? ''), line).toBe(true);
  });
});
