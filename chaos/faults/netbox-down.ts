import { jobStateNow, settle, startRun } from '../scenario';
import { createsReached, progressed, SETTLE_BOUND_MS, sleep, type Fault } from './common';

/**
 * The NetBox simulator stopped mid-run (connections refused) and started again on the same port. Creates are slowed
 * a little so the apply is still under way when NetBox comes back; the detail says how far it got meanwhile.
 */
export const netboxDown: Fault = {
  name: 'NetBox down',
  async run(h, o) {
    const creates = o.short ? 36 : 190;
    const deletes = o.short ? 4 : 10;
    const downMs = o.short ? 20_000 : 60_000;
    await h.startWorker();
    h.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_000 });
    const run = await startRun(h, 'netbox', { creates, deletes, firstVmid: o.firstVmid });
    await progressed(h, run, 0.05);
    const before = createsReached(h, run).reached;
    await h.stopNetbox();
    await sleep(downMs);
    const during = createsReached(h, run).reached - before;
    const stateAtReturn = await jobStateNow(h, run);
    await h.startNetbox();
    h.proxbox.control.clearFaults();
    const stoppedAt = Date.now();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return {
      fault: 'NetBox down',
      detail: `${run.vms.length} VMs (${deletes} deletes); NetBox down ${downMs / 1000} s from ${before} creates sent; ${during} more sent while it was down; job ${stateAtReturn} when it came back`,
      ...outcome,
    };
  },
};
