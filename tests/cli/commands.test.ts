/**
 * Every llmopt command against the live API, run as a child process as a user runs it: its happy path,
 * `-o json` parsed, and its main refusal with the exit code scripts rely on (2 invalid input, 3 not
 * found, 4 conflict or stale If-Match, 5 unavailable, 6 wrong role or no credential).
 */
// First: zod-openapi must extend zod before any domain schema is built.
import '@hono/zod-openapi';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../platform/net';
import { eventually, holdTestLock, uniqueName } from '../helpers/env';
import { switchDraft } from '../helpers/rollout';
import { seedPromotedRollout, startGatedRollout } from '../app/rollouts-fixtures';
import { startCliSystem, type CliSystem } from './harness';

let s: CliSystem;
let analystKey: string;
const dir = mkdtempSync(join(tmpdir(), 'llmopt-cli-'));

beforeAll(async () => {
  s = await startCliSystem();
  analystKey = await s.sys.keyFor('analyst');
});
afterAll(async () => {
  await s?.stop();
});

/** A target file as a user writes it. */
function targetFile(name: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      'description: made by the CLI test',
      'arms:',
      '  - { id: big, provider: openai, model: gpt-4o }',
      '  - { id: small, provider: openai, model: gpt-4o-mini }',
      'segments: [default]',
      'weights: { big: 10000 }',
      '',
    ].join('\n'),
  );
  return file;
}

describe('llmopt targets', () => {
  it('creates from YAML, lists, gets and deletes; unknown → 3, analyst creating → 6, bad file → 2', async () => {
    const name = uniqueName('cli-t');
    const created = await s.cli(['targets', 'create', '-f', targetFile(name)]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`created target ${name}`);
    expect(created.stdout).toMatch(/small\s+openai\s+gpt-4o-mini/);

    // The shared database holds many targets: the listing pages, and its JSON parses.
    const listed = await s.cli(['targets', 'list', '-o', 'json', '--limit', '5']);
    expect(listed.code).toBe(0);
    expect(listed.json().items.length).toBeGreaterThan(0);
    const got = await s.cli(['-o', 'yaml', 'targets', 'get', name]);
    expect(got.stdout).toContain(`name: ${name}`);

    const missing = await s.cli(['targets', 'get', uniqueName('nope')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^llmopt: 404 .*\n$/);
    const analyst = await s.cli(['targets', 'create', '-f', targetFile(uniqueName('cli-t'))], {
      LLMOPT_API_KEY: analystKey,
    });
    expect(analyst.code).toBe(6);
    expect(analyst.stderr).toContain('403');
    writeFileSync(join(dir, 'bad.yaml'), 'name: [unclosed');
    expect((await s.cli(['targets', 'create', '-f', join(dir, 'bad.yaml')])).code).toBe(2);
    const invalid = await s.cli(['targets', 'create', '-f', '-'], {}, JSON.stringify({ name: 'x' }));
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('arms');

    expect((await s.cli(['targets', 'delete', name])).code).toBe(0);
    expect((await s.cli(['targets', 'get', name])).code).toBe(3);
  });
});

describe('llmopt config', () => {
  it('gets, sets with If-Match, lists history, diffs and reverts; a stale ETag → 4', async () => {
    const name = uniqueName('cli-c');
    expect((await s.cli(['targets', 'create', '-f', targetFile(name)])).code).toBe(0);
    const v1 = (await s.cli(['config', 'get', name, '-o', 'json'])).json();
    expect(v1).toMatchObject({ version: 1, weights: { big: 10000 } });
    expect(v1.etag).toMatch(/^"v1\./);

    const set = await s.cli(['config', 'set', name, 'big=80%', 'small=2000', '--reason', 'cli trial']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('is now v2');
    expect(set.stdout).toContain('big 80% · small 20%');
    // The ETag read before the change is stale now: refused, nothing written.
    const stale = await s.cli(['config', 'set', name, 'big=10000', '--if-match', v1.etag]);
    expect(stale.code).toBe(4);
    expect(stale.stderr).toContain('412');

    const history = (await s.cli(['config', 'history', name, '-o', 'json'])).json();
    expect(history.items.map((c: { version: number }) => c.version)).toEqual([2, 1]);
    const diff = await s.cli(['config', 'diff', name]);
    expect(diff.stdout).toContain('v1 → v2');
    expect(diff.stdout).toMatch(/big\s+100%\s+80%\s+-20%/);
    expect(diff.stdout).toMatch(/small\s+0%\s+20%\s+\+20%/);

    const reverted = await s.cli(['config', 'revert', name, '1', '-o', 'json']);
    expect(reverted.code).toBe(0);
    expect(reverted.json()).toMatchObject({ version: 3, weights: { big: 10000 }, reason: 'revert to v1' });
    expect((await s.cli(['config', 'get', uniqueName('nope')])).code).toBe(3);
    expect((await s.cli(['config', 'set', name, 'big'])).code).toBe(2);
  });
});

describe('llmopt optimize and decisions', () => {
  it('runs a cycle and watches it complete, lists and gets it; cancelling a finished cycle → 4', async () => {
    const name = uniqueName('cli-o');
    expect((await s.cli(['targets', 'create', '-f', targetFile(name)])).code).toBe(0);
    const run = await s.cli(['optimize', 'run', name, '--watch', '--interval', '0.2']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /started (cycle-\S+)/.exec(run.stdout)![1]!;
    expect(run.stdout).toContain(`${id}: completed`);

    const got = (await s.cli(['optimize', 'get', id, '-o', 'json'])).json();
    expect(got).toMatchObject({ id, target: name, status: 'completed' });
    await eventually(
      async () =>
        (await s.cli(['optimize', 'list', '--target', name, '-o', 'json'])).json().items.length === 1,
      { what: 'the cycle in the visibility list' },
    );
    const cancel = await s.cli(['optimize', 'cancel', id]);
    expect(cancel.code).toBe(4);
    expect(cancel.stderr).toContain('409');
    expect((await s.cli(['optimize', 'run', uniqueName('nope')])).code).toBe(3);
  });

  it('approves and rejects decisions awaiting approval; approving one that does not await it → 4', async () => {
    const decide = async (prefix: string) => {
      const name = uniqueName(prefix);
      expect((await s.cli(['targets', 'create', '-f', targetFile(name)])).code).toBe(0);
      s.script.drafts.set(name, [switchDraft(name, true)]);
      expect((await s.cli(['optimize', 'run', name])).code).toBe(0);
      const listed = await eventually(
        async () => {
          const r = (
            await s.cli([
              'decisions',
              'list',
              '--target',
              name,
              '--status',
              'awaiting_approval',
              '-o',
              'json',
            ])
          ).json();
          return r.items.length ? r.items : undefined;
        },
        { what: `a decision of ${name} awaiting approval` },
      );
      return { id: listed[0].id as string, name };
    };
    const [a, r] = await Promise.all([decide('cli-da'), decide('cli-dr')]);
    const [toApprove, toReject, rejectedTarget] = [a.id, r.id, r.name];
    const approved = await s.cli(['decisions', 'approve', toApprove, '--reason', 'looks right']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`approved decision ${toApprove}`);
    const rejected = await s.cli(['decisions', 'reject', toReject, '--reason', 'not now']);
    expect(rejected.stderr).toBe('');
    expect(rejected.stdout).toContain(`rejected decision ${toReject}`);
    // The cycle records the answer it was given: the decision then lists as rejected.
    await eventually(
      async () =>
        (
          await s.cli(['decisions', 'list', '--target', rejectedTarget, '--status', 'rejected'])
        ).stdout.includes(toReject),
      { what: 'the rejected decision in the list' },
    );

    const again = await s.cli(['decisions', 'reject', toReject]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('does not await approval');
  });
});

describe('llmopt rollouts', () => {
  it('lists, gets, pauses, resumes, approves and aborts a rollout; pausing twice → 4', async () => {
    const { id, target } = await startGatedRollout(s.sys, 'cli-r');
    const listed = (await s.cli(['rollouts', 'list', '--target', target, '-o', 'json'])).json();
    expect(listed.items.map((r: { id: string }) => r.id)).toEqual([id]);
    const got = await s.cli(['rollouts', 'get', id]);
    expect(got.stdout).toMatch(/state\s+AWAITING_APPROVAL \(stage 0 awaits approval\)/);
    expect(got.stdout).toMatch(/0\s+5%\s+3600s\s+required\s+awaiting approval/);

    expect((await s.cli(['rollouts', 'pause', id, '--reason', 'look'])).code).toBe(0);
    await eventually(async () => (await s.cli(['rollouts', 'get', id, '-o', 'json'])).json().workflow.paused);
    const twice = await s.cli(['rollouts', 'pause', id]);
    expect(twice.code).toBe(4);
    expect(twice.stderr).toContain('409');
    expect((await s.cli(['rollouts', 'resume', id])).code).toBe(0);
    const approved = await s.cli(['rollouts', 'approve', id, '--stage', '0']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`approved stage 0 of ${id}`);
    expect((await s.cli(['rollouts', 'abort', id, '--reason', 'done looking'])).code).toBe(0);
    const aborted = await s.cli(['rollouts', 'get', id, '--watch', '--interval', '0.2']);
    expect(aborted.code).toBe(7);
    expect(aborted.stdout).toContain(': aborted');
    expect((await s.cli(['rollouts', 'get', `rollout-none-${uniqueName('x')}`])).code).toBe(3);
  });

  it('reverts a promoted rollout once; a second revert → 4; an analyst → 6', async () => {
    const { id, target } = await seedPromotedRollout(s.sys, 'cli-rv');
    expect((await s.cli(['rollouts', 'revert', id], { LLMOPT_API_KEY: analystKey })).code).toBe(6);
    const r = await s.cli(['rollouts', 'revert', id, '--reason', 'complaints', '-o', 'json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ id, restored_version: 1 });
    await eventually(async () => (await s.cli(['config', 'get', target, '-o', 'json'])).json().version === 3);
    const again = await s.cli(['rollouts', 'revert', id]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('only a promoted rollout can be reverted');
  });
});

describe('llmopt metrics', () => {
  it('shows a table per segment and arm; a malformed step → 2', async () => {
    const name = uniqueName('cli-m');
    expect((await s.cli(['targets', 'create', '-f', targetFile(name)])).code).toBe(0);
    const m = await s.cli(['metrics', name, '--since', '2h', '--step', '5m', '-o', 'json']);
    expect(m.code).toBe(0);
    expect(m.json()).toMatchObject({ target: name, step_ms: 300_000 });
    const table = await s.cli(['metrics', name]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`${name}  `);
    expect((await s.cli(['metrics', name, '--step', 'soon'])).code).toBe(2);
    expect((await s.cli(['metrics', name, '--since', 'yesterday-ish'])).code).toBe(2);
  });
});

describe('llmopt webhooks and integrations', () => {
  it('creates a subscription (secret shown once), lists and changes it; a bad URL → 2', async () => {
    const created = await s.cli([
      'webhooks',
      'set',
      '--url',
      'https://93.184.215.14/cli',
      '--event',
      'rollout.promoted',
      '-o',
      'json',
    ]);
    expect(created.stderr).toBe('');
    const w = created.json();
    expect(w.secret).toMatch(/^whsec_/);
    const listed = (await s.cli(['webhooks', 'list', '--limit', '200', '-o', 'json'])).json();
    expect(listed.items.map((x: { id: string }) => x.id)).toContain(w.id);
    const off = await s.cli(['webhooks', 'set', w.id, '--no-active', '-o', 'json']);
    expect(off.json()).toMatchObject({ id: w.id, active: false });
    const bad = await s.cli(['webhooks', 'set', '--url', 'not a url', '--event', '*']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('url');
    expect((await s.cli(['webhooks', 'set', '--event', '*'])).code).toBe(2);
  });

  it('lists and sets an integration; an unknown kind → 2, an analyst → 6', async () => {
    const release = await holdTestLock('integration-settings');
    try {
      const set = await s.cli([
        'integrations',
        'set',
        'jira',
        '--disable',
        '--set',
        'project_key=CLI',
        '--set',
        'base_url=https://93.184.215.14',
        '--set',
        'email=cli@example.com',
        '-o',
        'json',
      ]);
      expect(set.stderr).toBe('');
      expect(set.json()).toMatchObject({ kind: 'jira', enabled: false, settings: { project_key: 'CLI' } });
      const listed = await s.cli(['integrations', 'list']);
      expect(listed.stdout).toMatch(/jira\s+false/);
      // Disabled, nothing is delivered, and the command says why with a failing exit code.
      const tested = await s.cli(['integrations', 'test', 'jira']);
      expect(tested.code).not.toBe(0);
      expect(tested.stdout).toMatch(/outcome\s+\w+/);
      expect(tested.stderr).toMatch(/^llmopt: jira: \w+: /);
    } finally {
      await release();
    }
    expect((await s.cli(['integrations', 'set', 'carrier-pigeon'])).code).toBe(2);
    expect(
      (await s.cli(['integrations', 'set', 'jira', '--disable'], { LLMOPT_API_KEY: analystKey })).code,
    ).toBe(6);
  });
});

describe('llmopt keys and audit', () => {
  it('creates, lists and revokes a key, which then no longer works; the audit shows who did it', async () => {
    const name = uniqueName('cli-key');
    const created = await s.cli(['keys', 'create', name, '--role', 'analyst', '-o', 'json']);
    expect(created.code).toBe(0);
    const k = created.json();
    expect(k.key).toMatch(/^llmo_/);
    expect((await s.cli(['targets', 'list'], { LLMOPT_API_KEY: k.key })).code).toBe(0);
    const listed = await s.cli(['keys', 'list', '--limit', '200']);
    expect(listed.stdout).toContain(name);
    expect((await s.cli(['keys', 'revoke', k.id])).code).toBe(0);
    await eventually(async () => (await s.cli(['targets', 'list'], { LLMOPT_API_KEY: k.key })).code === 6, {
      what: 'the revoked key to be refused',
    });
    expect((await s.cli(['keys', 'revoke', crypto.randomUUID()])).code).toBe(3);
    expect((await s.cli(['keys', 'create', name, '--role', 'wizard'])).code).toBe(2);

    const audit = await s.cli(['audit', '--resource', `/v1/api-keys/${k.id}`, '-o', 'json']);
    expect(audit.code).toBe(0);
    expect(audit.json().items[0]).toMatchObject({ action: 'DELETE /v1/api-keys/{id}', outcome: 'success' });
    expect((await s.cli(['audit'], { LLMOPT_API_KEY: analystKey })).code).toBe(6);
  });

  it('finds the admin key file of an npm start machine when no key is given, and says what to do without one', async () => {
    const file = join(dir, 'admin-api-key');
    writeFileSync(file, `${s.sys.adminKey}\n`);
    const withFile = await s.cli(['targets', 'list'], {
      LLMOPT_API_KEY: undefined,
      LLMOPT_ADMIN_KEY_FILE: file,
    });
    expect(withFile.code).toBe(0);
    const none = await s.cli(['targets', 'list'], { LLMOPT_API_KEY: undefined });
    expect(none.code).toBe(6);
    expect(none.stderr).toContain('401');
    expect(none.stderr).toContain('pass --api-key, set LLMOPT_API_KEY');
  });
});

describe('llmopt admin and whoami', () => {
  it('shows the stats and says who the caller is; a flush without a bus → 5, an analyst asking for stats → 6', async () => {
    const stats = await s.cli(['admin', 'stats', '-o', 'json']);
    expect(stats.stderr).toBe('');
    expect(stats.json()).toMatchObject({ targets: expect.any(Number), open_rollouts: expect.any(Number) });
    expect((await s.cli(['admin', 'stats'])).stdout).toMatch(/open rollouts\s+\d+/);
    // This test system has no invalidation bus, so the API refuses a flush it could not spread: 503 → 5.
    const flushed = await s.cli(['admin', 'cache-flush']);
    expect(flushed.code).toBe(5);
    expect(flushed.stderr).toMatch(/^llmopt: 503 Service Unavailable: cache invalidation is not configured/);
    expect((await s.cli(['admin', 'stats'], { LLMOPT_API_KEY: analystKey })).code).toBe(6);
    const me = (await s.cli(['whoami', '-o', 'json'], { LLMOPT_API_KEY: analystKey })).json();
    expect(me.roles).toEqual(['analyst']);
    expect((await s.cli(['whoami'], { LLMOPT_API_KEY: 'llmo_notakey' })).code).toBe(6);
  });
});

describe('llmopt doctor and usage', () => {
  it('reports every dependency ready and the credential accepted; a wrong URL → 5, a bad key → 6', async () => {
    const ok = await s.cli(['doctor', '-o', 'json']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const checks = ok.json().findings.map((f: { check: string }) => f.check);
    expect(checks).toEqual(expect.arrayContaining(['api', 'postgres', 'temporal', 'credential']));
    const table = await s.cli(['doctor']);
    expect(table.stdout).toMatch(/postgres\s+✓/);

    // A port nothing listens on.
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await s.cli(['doctor'], { LLMOPT_API_URL: closed });
    expect(down.code).toBe(5);
    expect(down.stdout).toContain('npm start');
    const badKey = await s.cli(['doctor'], { LLMOPT_API_KEY: 'llmo_notakey' });
    expect(badKey.code).toBe(6);
    expect(badKey.stdout).toContain('llmopt keys create');
    const unreachable = await s.cli(['targets', 'list'], { LLMOPT_API_URL: closed });
    expect(unreachable.code).toBe(5);
    expect(unreachable.stderr).toMatch(
      new RegExp(`^llmopt: cannot reach the API at ${closed} \\(ECONNREFUSED\\)`),
    );
  });

  it('answers an unknown command, a missing argument and a bad format with 2', async () => {
    expect((await s.cli(['targetz'])).code).toBe(2);
    expect((await s.cli(['targets', 'get'])).code).toBe(2);
    expect((await s.cli(['-o', 'xml', 'targets', 'list'])).code).toBe(2);
    expect((await s.cli(['--help'])).code).toBe(0);
  });
});
