/** Tests and benchmarks share one way to get a database of their own (infra/scratch-database.ts). */
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type Database } from '../../db/client';
import { createFreshDatabase } from '../../infra/scratch-database';

export { TEST_PG_ADMIN_URL, createFreshDatabase } from '../../infra/scratch-database';

/**
 * Several API and worker processes are several connection pools on one database: a fresh database for the test file
 * and `count` pools on it, opened before the tests and closed (the database dropped) after them.
 */
export function databaseProcesses(prefix: string, count = 3): Database[] {
  const processes: Database[] = [];
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>> | undefined;
  beforeAll(async () => {
    fresh = await createFreshDatabase(prefix);
    for (let i = 0; i < count; i++) processes.push(await openDatabase({ url: fresh.url, maxConnections: 4 }));
  });
  afterAll(async () => {
    for (const p of processes) await p.close();
    await fresh?.drop();
  });
  return processes;
}
