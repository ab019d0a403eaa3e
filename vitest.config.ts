import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    projects: [
      {
        extends: true,
        // Pure tests: nothing to start (no PostgreSQL, no Temporal server, no listening socket, no child process).
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/simulators/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Tests that start something of their own: a fresh PostgreSQL database, an HTTP server or simulator on
        // loopback, a Temporal dev server, docker-compose, or the compiled service.
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // One Temporal dev server and one fresh PostgreSQL database for the whole run.
          globalSetup: ['test/support/global-setup.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
