/**
 * `llmopt doctor`: is the API there, are its dependencies (through /readyz: PostgreSQL, Temporal, Redis,
 * Kafka or the write-ahead log, the ingest pipeline) and the workers, and does the credential work. Each
 * failing check says what to do; the exit code is that of the worst finding.
 */
import type { Command } from 'commander';
import type { Api } from '../client';
import { unreachable } from '../client';
import type { GetCtx } from '../context';
import { CliError, EXIT, exitCodeOf, problemLine, type ExitCode } from '../errors';
import { emit, table } from '../output';

export interface Finding {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  exit?: ExitCode;
}

/** What to do when a readiness check of this name fails. */
const FIXES: [RegExp, string][] = [
  [
    /postgres/,
    'PostgreSQL does not answer: check DATABASE_URL (npm start: see .local/logs/supervisor.log; tests: `bash infra/services.sh status`)',
  ],
  [
    /temporal/,
    "Temporal does not answer: check TEMPORAL_ADDRESS (npm start runs its own dev server; `bash infra/services.sh status` for the tests')",
  ],
  [/redis/, 'Redis does not answer: check REDIS_URL, or unset it to cache in memory'],
  [/kafka/, 'Kafka does not answer: check KAFKA_BROKERS, or unset it to ingest through the write-ahead log'],
  [
    /wal|ingest/,
    'the ingest pipeline is stuck: see the API log (.local/logs/api.log) for the write-ahead log or shard that fails',
  ],
  [
    /worker|poller/,
    'no worker polls a task queue: start the workers (npm start supervises them; see .local/logs/<worker>.log)',
  ],
];

const fixFor = (name: string): string =>
  FIXES.find(([re]) => re.test(name.toLowerCase()))?.[1] ?? `see the API log for the "${name}" check`;

async function reachable(api: Api, apiUrl: string): Promise<Finding> {
  try {
    const r = await api.GET('/healthz');
    return r.response.ok
      ? { check: 'api', ok: true, detail: `${apiUrl} answers` }
      : {
          check: 'api',
          ok: false,
          detail: `${apiUrl}/healthz answered ${r.response.status}`,
          fix: 'is --api-url the llm-auto-optimizer API?',
          exit: EXIT.unavailable,
        };
  } catch (err) {
    const e = unreachable(apiUrl, err);
    return {
      check: 'api',
      ok: false,
      detail: e.message,
      fix: 'start it with `npm start`, or pass --api-url / set LLMOPT_API_URL',
      exit: EXIT.unavailable,
    };
  }
}

async function readiness(api: Api): Promise<Finding[]> {
  const r = await api.GET('/readyz');
  const body = r.data ?? r.error;
  if (!body?.checks)
    return [
      {
        check: 'readiness',
        ok: false,
        detail: `/readyz answered ${r.response.status}`,
        exit: EXIT.unavailable,
      },
    ];
  if (body.status === 'stopping')
    return [
      {
        check: 'readiness',
        ok: false,
        detail: 'the API is stopping',
        fix: 'wait for it to restart',
        exit: EXIT.unavailable,
      },
    ];
  return body.checks.map((c) =>
    c.ok
      ? { check: c.name, ok: true, detail: 'ok' }
      : {
          check: c.name,
          ok: false,
          detail: c.reason ?? 'fails',
          fix: fixFor(c.name),
          exit: EXIT.unavailable,
        },
  );
}

async function credential(api: Api, keyGiven: boolean): Promise<Finding> {
  const r = await api.GET('/v1/me');
  if (r.data)
    return { check: 'credential', ok: true, detail: `${r.data.actor} (${r.data.roles.join(', ')})` };
  const line = problemLine(r.response.status, r.error, r.response.statusText);
  const fix = keyGiven
    ? 'the key is unknown, revoked, expired or lacks a role: create one with `llmopt keys create <name> --role operator`'
    : 'no API key: pass --api-key, set LLMOPT_API_KEY, or run `npm start` once (it writes .local/data/admin-api-key)';
  return { check: 'credential', ok: false, detail: line, fix, exit: exitCodeOf(r.response.status) };
}

export async function diagnose(api: Api, apiUrl: string, keyGiven: boolean): Promise<Finding[]> {
  const api0 = await reachable(api, apiUrl);
  if (!api0.ok) return [api0];
  return [api0, ...(await readiness(api)), await credential(api, keyGiven)];
}

export function doctorCommand(program: Command, ctx: GetCtx, keyGiven: () => boolean): void {
  program
    .command('doctor')
    .description('check the API, its dependencies, the workers and your credential, and say what to fix')
    .action(async () => {
      const { api, out, apiUrl } = ctx();
      const findings = await diagnose(api, apiUrl, keyGiven());
      emit(out, { ok: findings.every((f) => f.ok), findings }, (d) =>
        [
          table(
            ['CHECK', '', 'DETAIL'],
            d.findings.map((f) => [f.check, f.ok ? '✓' : '✗', f.detail]),
          ),
          ...d.findings.filter((f) => f.fix).map((f) => `\n${f.check}: ${f.fix}`),
        ].join('\n'),
      );
      const worst = findings.map((f) => f.exit ?? EXIT.ok).find((c) => c !== EXIT.ok);
      if (worst !== undefined)
        throw new CliError(`${findings.filter((f) => !f.ok).length} check(s) failed`, worst);
    });
}
