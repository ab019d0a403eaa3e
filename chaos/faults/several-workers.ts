import { inFlight, settle, startRun } from '../scenario';
import { progressed, SETTLE_BOUND_MS, sleep, type Fault } from './common';

/** Three workers share one apply; one is killed with SIGKILL while creates are in flight, the other two carry on. */
export const oneOfSeveral: Fault = {
  name: 'kill one of three workers',
  async run(h, o) {
    const creates = o.short ? 40 : 120;
    await Promise.all([h.startWorker(), h.startWorker(), h.startWorker()]);
    h.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_000, probability: 0.3 });
    const run = await startRun(h, 'several', { creates, firstVmid: o.firstVmid });
    await progressed(h, run, 0.2);
    const deadline = Date.now() + 20_000;
    while (inFlight(h).creates === 0 && Date.now() < deadline) await sleep(50);
    const [victim] = [...h.workers];
    await h.killWorker(victim!);
    o.log(`  killed worker ${victim!.pid}; ${h.workers.size} keep going`);
    const stoppedAt = Date.now();
    h.proxbox.control.clearFaults();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return { fault: 'kill 1 of 3 workers', detail: `${creates} VMs; no restart`, ...outcome };
  },
};
