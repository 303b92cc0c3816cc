/**
 * GitHub: an issue with labels for a rollback or a critical anomaly, one per incident. The incident's
 * fingerprint is stored with the issue number and also written into the issue body, so even a retry
 * after a crash between "created" and "stored" finds the issue by search instead of opening another.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { DomainEvent } from '../../domain/domain-events';
import type { IntegrationsRepo } from '../../adapters/db/repos/integrations';
import type { GithubSettings, SettingsResolver } from '../../app/integration-settings';
import type { Isolation } from './isolation';
import { FAILURE_TYPES } from '../../domain/errors';

/** Whether GitHub hears about the event: rollbacks, and anomalies marked critical. */
export function wantsGithubIssue(event: DomainEvent): boolean {
  return (
    event.type === 'rollout.rolled_back' ||
    (event.type === 'anomaly.detected' && event.data.severity === 'critical')
  );
}

/** The incident an event belongs to: a rollback per rollout, an anomaly per target, segment and metric. */
export function incidentFingerprint(event: DomainEvent): string {
  const field = (k: string): string | undefined => {
    const v = event.data[k];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
  };
  const key =
    event.type === 'rollout.rolled_back'
      ? `rollback:${field('rollout_id') ?? field('decision_id') ?? event.id}`
      : `anomaly:${field('metric') ?? field('kind') ?? 'unknown'}:${field('arm') ?? ''}`;
  return createHash('sha256')
    .update(`${event.target}\n${event.segment ?? ''}\n${key}`)
    .digest('hex')
    .slice(0, 32);
}

const marker = (fp: string) => `llmopt-fingerprint:${fp}`;

export function githubIssue(event: DomainEvent, fingerprint: string, labels: string[]) {
  const where = event.segment ? `${event.target}/${event.segment}` : event.target;
  const title =
    event.type === 'rollout.rolled_back'
      ? `Rollback on ${where}: ${event.summary}`
      : `Critical anomaly on ${where}: ${event.summary}`;
  const facts = Object.entries(event.data)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => `| ${k} | ${String(v as string)} |`);
  const body = [
    event.summary,
    '',
    '| field | value |',
    '| --- | --- |',
    `| target | ${where} |`,
    `| event | \`${event.type}\` \`${event.id}\` |`,
    `| occurred at | ${event.occurred_at} |`,
    ...facts,
    '',
    `<!-- ${marker(fingerprint)} -->`,
  ].join('\n');
  return {
    title: title.slice(0, 256),
    body,
    labels: [...new Set([...labels, event.type === 'rollout.rolled_back' ? 'rollback' : 'anomaly'])],
  };
}

export function createGithubActivities(deps: {
  settings: SettingsResolver;
  isolation: Isolation;
  integrations: IntegrationsRepo;
}) {
  const api = (s: GithubSettings) => ({
    base: s.apiBaseUrl.replace(/\/$/, ''),
    headers: {
      authorization: `Bearer ${s.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'llm-auto-optimizer',
    },
  });

  return {
    /**
     * Opens (once per incident) a labelled issue for a rollback or a critical anomaly. Returns what it
     * did. Retries 429/5xx and rate-limit 403s; `DeliveryRejected` for other 4xx; `InvalidConfig` when
     * GitHub is not configured.
     */
    async syncGithubIssue(event: DomainEvent): Promise<string> {
      if (!wantsGithubIssue(event)) return 'not an issue-worthy event';
      const s = await deps.settings.github();
      if (!s?.token)
        throw ApplicationFailure.nonRetryable('GitHub is not configured', FAILURE_TYPES.InvalidConfig);
      const fp = incidentFingerprint(event);
      const known = await deps.integrations.fingerprint('github', fp);
      if (known?.external_id && !known.resolved_at) return `duplicate of #${known.external_id}`;

      const { base, headers } = api(s);
      const q = encodeURIComponent(`"${marker(fp)}" repo:${s.repository} is:issue is:open in:body`);
      const found = await deps.isolation.run('github', () =>
        deps.isolation.json<{ items?: { number: number; html_url: string }[] }>('github', {
          method: 'GET',
          url: `${base}/search/issues?q=${q}`,
          headers,
        }),
      );
      let issue = found.json?.items?.[0];
      if (!issue) {
        const created = await deps.isolation.run('github', () =>
          deps.isolation.json<{ number: number; html_url: string }>('github', {
            method: 'POST',
            url: `${base}/repos/${s.repository}/issues`,
            headers,
            json: githubIssue(event, fp, s.labels),
          }),
        );
        issue = created.json;
      }
      await deps.integrations.saveFingerprint({
        kind: 'github',
        fingerprint: fp,
        external_id: String(issue.number),
        external_url: issue.html_url,
        event_id: event.id,
      });
      return `issue #${issue.number}`;
    },
  };
}
