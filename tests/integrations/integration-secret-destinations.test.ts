/**
 * A stored integration secret stays with the address it was entered for. An admin enters a token for
 * one Jira (Slack, GitHub, Anthropic) address; an operator's settings-only PUT that points the
 * integration elsewhere would have the workers send that token to the new host. Changing the address
 * takes the secret entered again in the same request, or the admin role; anything else is 422 naming
 * the secret, and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { call, startTestSystem, type TestSystem } from '../helpers/system';
import { integrationEnv, takeTurnsWithIntegrationSettings } from './fixtures';

takeTurnsWithIntegrationSettings();

let sys: TestSystem;
let app: ReturnType<typeof createApp>;
let operator: string;

beforeAll(async () => {
  sys = await startTestSystem({ workers: false });
  // Loopback addresses stand for the real host and the new one; the allow-list lets them register.
  app = createApp({ ...sys.deps, env: integrationEnv() });
  operator = await sys.keyFor('operator');
});
afterAll(async () => {
  for (const kind of ['slack', 'github', 'jira', 'anthropic'])
    await call({ app }, 'DELETE', `/v1/integrations/${kind}`, undefined, {}, { auth: sys.adminKey });
  await sys?.stop();
});

const TRUSTED = 'http://127.0.0.1:8443';
const ELSEWHERE = 'http://127.0.0.2:8443';

/** Each kind: its settings with the address, the address setting, and the secret sent there. */
const KINDS = [
  {
    kind: 'jira',
    settings: (url: string) => ({ base_url: url, email: 'bot@acme.test', project_key: 'OPS' }),
    setting: 'base_url',
    secret: 'api_token',
  },
  {
    kind: 'slack',
    settings: (url: string) => ({ channel: 'C0OPS', api_base_url: url }),
    setting: 'api_base_url',
    secret: 'bot_token',
  },
  {
    kind: 'github',
    settings: (url: string) => ({ repository: 'acme/ops', api_base_url: url }),
    setting: 'api_base_url',
    secret: 'token',
  },
  {
    kind: 'anthropic',
    settings: (url: string) => ({ base_url: url, model: 'claude-test' }),
    setting: 'base_url',
    secret: 'api_key',
  },
] as const;

const put = (kind: string, body: unknown, auth: string) =>
  call({ app }, 'PUT', `/v1/integrations/${kind}`, body, {}, { auth });

describe('stored integration secrets and the address they are sent to', () => {
  for (const { kind, settings, setting, secret } of KINDS) {
    it(`${kind}: an operator cannot move the stored ${secret} to another ${setting}`, async () => {
      const entered = await put(
        kind,
        { settings: settings(TRUSTED), secrets: { [secret]: `admin-entered-${kind}` } },
        sys.adminKey,
      );
      expect(entered.status).toBe(200);

      // A settings-only change that keeps the address is an operator's to make.
      const same = await put(kind, { settings: settings(`${TRUSTED}/`) }, operator);
      expect(same.status).toBe(200);

      const moved = await put(kind, { settings: settings(ELSEWHERE) }, operator);
      expect(moved.status).toBe(422);
      expect(moved.headers.get('content-type')).toBe('application/problem+json');
      expect(moved.body.errors).toEqual([
        { path: `secrets.${secret}`, message: `required when settings.${setting} changes` },
      ]);
      expect(moved.body.detail).toContain(`settings.${setting} changes where the stored secret ${secret}`);
      const stored = await call(
        { app },
        'GET',
        `/v1/integrations/${kind}`,
        undefined,
        {},
        { auth: operator },
      );
      expect(stored.body.settings[setting]).toBe(`${TRUSTED}/`);

      // Entering the secret again moves it: the operator knows what is being sent there.
      const reentered = await put(
        kind,
        { settings: settings(ELSEWHERE), secrets: { [secret]: `operator-entered-${kind}` } },
        operator,
      );
      expect(reentered.status).toBe(200);
      // An admin may move it without entering it.
      expect((await put(kind, { settings: settings(TRUSTED) }, sys.adminKey)).status).toBe(200);
    });
  }

  it('counts an address left unset as the default one: setting another moves the secret', async () => {
    const entered = await put(
      'anthropic',
      { settings: { model: 'claude-test' }, secrets: { api_key: 'sk-ant-admin' } },
      sys.adminKey,
    );
    expect(entered.status).toBe(200);
    const moved = await put(
      'anthropic',
      { settings: { base_url: ELSEWHERE, model: 'claude-test' } },
      operator,
    );
    expect(moved.status).toBe(422);
    expect(moved.body.errors[0].path).toBe('secrets.api_key');
    // Removing the secret in the same request sends nothing anywhere.
    const removed = await put(
      'anthropic',
      { settings: { base_url: ELSEWHERE, model: 'claude-test' }, secrets: { api_key: null } },
      operator,
    );
    expect(removed.status).toBe(200);
    expect(removed.body.secrets_set).toEqual([]);
  });
});
