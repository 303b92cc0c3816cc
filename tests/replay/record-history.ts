/**
 * Saves the event history of a finished workflow run as JSON under tests/histories/, for replay tests.
 * Usage: npx tsx tests/replay/record-history.ts <workflow-id> <file-name.json>
 * (TEMPORAL_ADDRESS from the environment, e.g. eval "$(bash infra/services.sh env)").
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { parseEnv } from '../../platform/env';
import { connectClient } from '../../platform/temporal';
import { ROOT } from '../helpers/process';

const [workflowId, fileName] = process.argv.slice(2);
if (!workflowId || !fileName) {
  process.stderr.write('usage: record-history.ts <workflow-id> <file-name.json>\n');
  process.exit(2);
}
const env = parseEnv(process.env);
const client = await connectClient(env.TEMPORAL_ADDRESS, env.TEMPORAL_NAMESPACE);
const history = await client.workflow.getHandle(workflowId).fetchHistory();
writeFileSync(join(ROOT, 'tests', 'histories', fileName), historyToJSON(history));
process.stdout.write(
  `saved ${history.events?.length ?? 0} events of ${workflowId} to tests/histories/${fileName}\n`,
);
await client.connection.close();
