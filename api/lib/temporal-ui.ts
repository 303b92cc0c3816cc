/** Links into the Temporal Web UI, for answers that name a workflow run. */
import type { ApiDeps } from './types';

/** The page of a workflow's current run in the Temporal Web UI (TEMPORAL_UI_URL, or the local dev server's). */
export function temporalUiUrl(deps: Pick<ApiDeps, 'env'>, workflowId: string): string {
  const base = deps.env.TEMPORAL_UI_URL ?? `http://127.0.0.1:${deps.env.TEMPORAL_UI_PORT}`;
  return `${base}/namespaces/${deps.env.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(workflowId)}`;
}
