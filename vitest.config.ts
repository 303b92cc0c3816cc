import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'sdk/tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files share one Temporal server and database; each isolates itself by unique names and task queues.
    fileParallelism: true,
    maxWorkers: 2,
    coverage: {
      provider: 'v8',
      reporter: ['text-summary', 'text'],
      include: [
        '{api,app,activities,workflows,workers,pipeline,adapters,platform,infra,domain,cli}/**/*.ts',
        'sdk/src/**/*.ts',
      ],
    },
  },
});
