/**
 * Jira Cloud (REST v3, API-token basic auth): an issue per rollback, found again by a JQL search on its
 * fingerprint label before any create, and transitioned to done when the target's next rollout is
 * promoted (the incident is over once a change sticks again).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { DomainEvent } from '../../domain/domain-events';
import type { IntegrationsRepo } from '../../adapters/db/repos/integrations';
import type { JiraSettings, SettingsResolver } from '../../app/integration-settings';
import { incidentFingerprint } from './github';
import type { Isolation } from './isolation';
import { FAILURE_TYPES } from '../../domain/errors';

export const JIRA_EVENTS = ['rollout.rolled_back', 'rollout.promoted'] as const;

const fpLabel = (fp: string) => `llmopt-${fp.slice(0, 20)}`;
const scopeLabel = (e: DomainEvent) => `llmopt-scope-${e.target}--${e.segment ?? 'all'}`;

/** Atlassian Document Format: one paragraph per line. */
function adf(lines: string[]) {
  return {
    type: 'doc',
    version: 1,
    content: lines.map((text) => ({ type: 'paragraph', content: text ? [{ type: 'text', text }] : [] })),
  };
}

interface SearchResult {
  issues?: { id: string; key: string }[];
}

export function createJiraActivities(deps: {
  settings: SettingsResolver;
  isolation: Isolation;
  integrations: IntegrationsRepo;
}) {
  const client = (s: JiraSettings) => {
    const base = s.baseUrl.replace(/\/$/, '');
    const headers = { authorization: `Basic ${Buffer.from(`${s.email}:${s.apiToken}`).toString('base64')}` };
    const call = <T>(method: 'GET' | 'POST', path: string, json?: unknown) =>
      deps.isolation.run('jira', () =>
        deps.isolation.json<T>('jira', {
          method,
          url: `${base}${path}`,
          headers,
          ...(json !== undefined ? { json } : {}),
        }),
      );
    const search = (jql: string) =>
      call<SearchResult>('POST', '/rest/api/3/search/jql', {
        jql,
        fields: ['summary', 'status'],
        maxResults: 50,
      });
    return { call, search };
  };

  return {
    /**
     * Creates the rollback issue (deduplicated by JQL on its fingerprint label) or, on a promotion,
     * transitions the target's open rollback issues with the configured transition. Retries 429/5xx;
     * `DeliveryRejected` for other 4xx or a missing transition; `InvalidConfig` when Jira is unset.
     */
    async syncJiraIssue(event: DomainEvent): Promise<string> {
      if (!(JIRA_EVENTS as readonly string[]).includes(event.type)) return 'not a Jira event';
      const s = await deps.settings.jira();
      if (!s) throw ApplicationFailure.nonRetryable('Jira is not configured', FAILURE_TYPES.InvalidConfig);
      const jira = client(s);
      const project = `project = "${s.projectKey}"`;

      if (event.type === 'rollout.rolled_back') {
        const fp = incidentFingerprint(event);
        const existing = await jira.search(
          `${project} AND labels = "${fpLabel(fp)}" AND statusCategory != Done`,
        );
        const open = existing.json?.issues?.[0];
        if (open) return `duplicate of ${open.key}`;
        const where = event.segment ? `${event.target}/${event.segment}` : event.target;
        const created = await jira.call<{ id: string; key: string; self: string }>(
          'POST',
          '/rest/api/3/issue',
          {
            fields: {
              project: { key: s.projectKey },
              issuetype: { name: s.issueType },
              summary: `Rollback on ${where}: ${event.summary}`.slice(0, 255),
              labels: ['llmopt-rollback', fpLabel(fp), scopeLabel(event)],
              description: adf([
                event.summary,
                '',
                `Event ${event.type} ${event.id} at ${event.occurred_at}.`,
                ...Object.entries(event.data)
                  .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
                  .map(([k, v]) => `${k}: ${String(v as string)}`),
              ]),
            },
          },
        );
        await deps.integrations.saveFingerprint({
          kind: 'jira',
          fingerprint: fp,
          external_id: created.json.key,
          external_url: created.json.self,
          event_id: event.id,
        });
        return `created ${created.json.key}`;
      }

      const open = await jira.search(
        `${project} AND labels = "llmopt-rollback" AND labels = "${scopeLabel(event)}" AND statusCategory != Done`,
      );
      const keys: string[] = [];
      for (const issue of open.json?.issues ?? []) {
        const t = await jira.call<{
          transitions?: { id: string; name: string; to?: { statusCategory?: { key?: string } } }[];
        }>('GET', `/rest/api/3/issue/${issue.key}/transitions`);
        const wanted = s.doneTransition.toLowerCase();
        const transition =
          t.json?.transitions?.find((x) => x.name.toLowerCase() === wanted) ??
          t.json?.transitions?.find((x) => x.to?.statusCategory?.key === 'done');
        if (!transition)
          throw ApplicationFailure.nonRetryable(
            `issue ${issue.key} has no transition "${s.doneTransition}"`,
            FAILURE_TYPES.DeliveryRejected,
          );
        await jira.call('POST', `/rest/api/3/issue/${issue.key}/transitions`, {
          transition: { id: transition.id },
        });
        keys.push(issue.key);
      }
      return keys.length ? `resolved ${keys.join(', ')}` : 'no open rollback issue';
    },
  };
}
