/**
 * The activities each task queue registers, built from the process's container (app/compose.ts) whole.
 * The worker entry points and the in-process test system register the same sets.
 */
import { createAnalysisActivities } from '../activities/analysis';
import { createIntegrationActivities, createNotifyStarter, deliveryPolicy } from '../activities/integrations';
import { createOrchestrationActivities } from '../activities/orchestration';
import { createPublishActivities } from '../activities/integrations/publish';
import type { Container } from '../app/compose';

/**
 * Rollout writes (routing configs, rollout state, decision status) and the domain-event outbox. With
 * `notify`, each published event starts the notifyEvent workflow on the integrations queue and returns:
 * delivery never delays a rollout. Without it (no integrations worker) events are only stored.
 */
export function orchestrationActivities(c: Container, opts: { notify: boolean } = { notify: true }) {
  return {
    // The targets repository of a container with the cache announces every version it writes.
    ...createOrchestrationActivities({
      targets: c.repos.targets,
      decisions: c.repos.decisions,
      rollouts: c.repos.rollouts,
      logger: c.logger,
    }),
    ...createPublishActivities({
      events: c.repos.domainEvents,
      logger: c.logger,
      ...(opts.notify
        ? {
            deliver: createNotifyStarter({
              taskQueue: c.taskQueues.integrations,
              policy: deliveryPolicy(c.env),
            }),
          }
        : {}),
    }),
  };
}

/** Analyzers, strategies, coordinator and the canary judge, which reads stage windows from the store. */
export function analysisActivities(c: Container) {
  return createAnalysisActivities({
    targets: c.repos.targets,
    decisions: c.repos.decisions,
    logger: c.logger,
    aggregates: c.repos.aggregates,
    reports: c.repos.analysisReports,
    rollouts: c.repos.rollouts,
    lookbackMinutes: c.env.ANALYSIS_LOOKBACK_MINUTES,
  });
}

/** Webhooks, Slack, GitHub, Jira, Anthropic, and the publish activity of the notification workflows. */
export function integrationsActivities(c: Container) {
  return {
    ...createPublishActivities({
      events: c.repos.domainEvents,
      logger: c.logger,
      deliver: createNotifyStarter({ taskQueue: c.taskQueues.integrations, policy: deliveryPolicy(c.env) }),
    }),
    ...createIntegrationActivities({ db: c.db, env: c.env, logger: c.logger, registry: c.metrics.registry }),
  };
}
