import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The e2e suites share one Temporal dev server; files run in parallel against it, each with its own task queue.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
