/**
 * The build step of the container image (and of a VM install): bundles every process entrypoint into
 * dist/ as `npm start` does, plus the two deployment entrypoints (migration, health probe), and builds the
 * Temporal workflow bundles ahead of time, so that a worker in a read-only, non-root container starts
 * without running webpack or writing to its own tree.
 */
import { buildIfStale, ENTRYPOINTS } from '../build';
import { workflowBundlePath } from '../../platform/temporal';

// Added to the list build.ts bundles, so they are built with exactly the options of every other process.
ENTRYPOINTS.push('infra/deploy/migrate.ts', 'infra/deploy/healthcheck.ts');
// index.ts for the orchestration worker, notify.ts for the integrations worker (workers/*.ts).
const WORKFLOW_ENTRIES = ['index.ts', 'notify.ts'];

await buildIfStale(true);
for (const entry of WORKFLOW_ENTRIES) await workflowBundlePath(undefined, entry);
process.stdout.write('built dist/ and the workflow bundles\n');
