import { settle, startRun } from '../scenario';
import { progressed, SETTLE_BOUND_MS, type Fault } from './common';

/** The Temporal dev server (state in SQLite) stopped mid-run and started again on the same port and file. */
export const temporalRestart: Fault = {
  name: 'restart Temporal',
  async run(h, o) {
    const creates = o.short ? 40 : 200;
    const downMs = o.short ? 5_000 : 20_000;
    await h.startWorker();
    const run = await startRun(h, 'temporal', { creates, firstVmid: o.firstVmid });
    await progressed(h, run, 0.25);
    await h.restartTemporal(downMs);
    const stoppedAt = Date.now();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return { fault: 'restart Temporal', detail: `${creates} VMs; dev server down ${downMs / 1000} s`, ...outcome };
  },
};
