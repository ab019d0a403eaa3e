import { merge, prepareBranch, settle } from '../scenario';
import { progressed, SETTLE_BOUND_MS, sleep, type Fault } from './common';

/** The NetBox simulator stopped mid-run (connections refused) and started again on the same port. */
export const netboxDown: Fault = {
  name: 'NetBox down',
  async run(h, o) {
    const creates = o.short ? 40 : 200;
    const downMs = o.short ? 20_000 : 60_000;
    await h.startWorker();
    h.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 500 });
    const run = prepareBranch(h, `chaos-netbox-${Date.now().toString(36)}`, creates, 0, o.firstVmid);
    await merge(h, run);
    await progressed(h, run, 0.1);
    await h.stopNetbox();
    await sleep(downMs);
    await h.startNetbox();
    h.proxbox.control.clearFaults();
    const stoppedAt = Date.now();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return { fault: 'NetBox down', detail: `${creates} VMs; NetBox down ${downMs / 1000} s`, ...outcome };
  },
};
