/**
 * How a process entrypoint is launched beyond `node <file>`: its Node flags and environment, used by the
 * supervisor and by the startup bench (which measures the processes as deployed).
 *
 * The two workers that host workflow bundles run two V8 isolates (the main thread and the SDK's workflow
 * thread) next to Temporal Core's native threads, and they are the ones that missed the 150 MB idle
 * target. Both settings trade a little allocation speed these workers do not need for idle memory:
 * - `--max-semi-space-size=1`: module loading at start grows each isolate's young generation to V8's
 *   ceiling of 2 × 16 MB, which an idle worker keeps resident. Their steady allocation is small (workflow
 *   activations, light activities), so a 1 MB semi-space (V8's starting size, kept from growing) means a
 *   few more, shorter scavenges and ~30 MB less idle RSS.
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that contends for malloc its own arena (up to 8 per
 *   core), and each arena keeps freed memory; two arenas save ~15 MB with Core's threads mostly idle.
 * The API, the stream process and the analysis worker allocate heavily per request or window and keep the
 * defaults.
 */
interface Launch {
  flags: readonly string[];
  env: Readonly<Record<string, string>>;
}

const WORKFLOW_WORKER: Launch = { flags: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: '2' } };

export const LAUNCH: Readonly<Record<string, Launch>> = {
  'workers/orchestration.ts': WORKFLOW_WORKER,
  'workers/integrations.ts': WORKFLOW_WORKER,
};

/** Node flags for the entrypoint at `file` (a path under the project root, e.g. `workers/stream.ts`). */
export function nodeFlags(file: string): string[] {
  return [...(LAUNCH[file]?.flags ?? [])];
}

/** Environment variables the entrypoint at `file` is started with, on top of its configuration. */
export function launchEnv(file: string): Record<string, string> {
  return { ...LAUNCH[file]?.env };
}
