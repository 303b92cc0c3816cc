/**
 * The intelligence tests are pure (no database, broker or Temporal), so they run without the suite's
 * global setup: `npx vitest run --config tests/unit/intelligence/vitest.config.ts`.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../../..', import.meta.url).pathname,
    include: ['tests/unit/intelligence/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
