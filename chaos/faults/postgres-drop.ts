import { settle, startRun } from '../scenario';
import { progressed, SETTLE_BOUND_MS, sleep, type Fault } from './common';

/**
 * The machine's PostgreSQL cannot be restarted from here; instead every connection of the service's database (API,
 * worker, locks, LISTEN) is terminated once a second for a while, then left alone.
 */
export const postgresDrop: Fault = {
  name: 'drop PostgreSQL connections',
  async run(h, o) {
    const creates = o.short ? 40 : 200;
    const forMs = o.short ? 10_000 : 30_000;
    await h.startWorker();
    const run = await startRun(h, 'pg', { creates, firstVmid: o.firstVmid });
    await progressed(h, run, 0.2);
    let dropped = 0;
    let rounds = 0;
    const until = Date.now() + forMs;
    while (Date.now() < until) {
      dropped += await h.dropDatabaseConnections();
      rounds += 1;
      await sleep(1_000);
    }
    o.log(`  ${dropped} connections terminated in ${rounds} rounds`);
    const stoppedAt = Date.now();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return { fault: 'drop PostgreSQL conns', detail: `${creates} VMs; every connection ended each second for ${forMs / 1000} s (${dropped} in all)`, ...outcome };
  },
};
