import { settle, startRun } from '../scenario';
import { PROXBOX_TIMEOUT_MS } from '../harness';
import { SETTLE_BOUND_MS, sleep, type Fault } from './common';

/**
 * 20% of proxbox-api calls misbehave while the run lasts (at most a while), in equal shares: a 503 before the call
 * takes effect, a 503 after it took effect, the connection dropped before, dropped after, an answer slower than our
 * timeout (the call takes effect late, after we gave up), and an answer whose body trickles past our timeout.
 */
export const proxboxFaults: Fault = {
  name: '20% proxbox-api faults',
  async run(h, o) {
    const creates = o.short ? 40 : 200;
    const deletes = o.short ? 4 : 10;
    const forMs = o.short ? 60_000 : 180_000;
    await h.startWorker();
    // Every proxbox-api call: writes, reads, task polls, capability discovery.
    const path = '^/';
    const kinds = [
      { mode: 'fail', status: 503, phase: 'before' }, { mode: 'fail', status: 503, phase: 'after' },
      { mode: 'drop', phase: 'before' }, { mode: 'drop', phase: 'after' },
      { mode: 'slow', delayMs: PROXBOX_TIMEOUT_MS + 1_000 }, { mode: 'trickle', delayMs: 500 },
    ] as const;
    // Rules are tried in order and each spares the rest: conditional shares so that each kind hits 20%/6 of calls.
    kinds.forEach((k, i) => h.proxbox.control.addFault({ ...k, path, probability: (0.2 / kinds.length) / (1 - (0.2 * i) / kinds.length) }));
    const callsBefore = h.proxbox.control.calls.length;
    const run = await startRun(h, 'proxbox', { creates, deletes, firstVmid: o.firstVmid });
    const until = Date.now() + forMs;
    while (Date.now() < until) {
      const job = run.jobId ? (await h.call(h.tokens.carol, 'GET', `/api/v1/apply-jobs/${run.jobId}`)).body : null;
      const requests = (await h.call(h.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${run.branchId}&limit=500`)).body?.items ?? [];
      if (job && ['succeeded', 'partial', 'failed'].includes(job.state) && requests.every((r: any) => ['succeeded', 'failed', 'rejected', 'expired'].includes(r.state))) break;
      if (!run.jobId) run.jobId = (await h.call(h.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${run.branchId}`)).body?.items?.[0]?.id ?? null;
      await sleep(1_000);
    }
    h.proxbox.control.clearFaults();
    const calls = h.proxbox.control.calls.slice(callsBefore).filter((c) => new RegExp(path).test(c.path));
    const hit = calls.filter((c) => c.status === null || c.status === 503 || c.status === 599).length;
    const stoppedAt = Date.now();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    return { fault: '20% proxbox-api faults', detail: `${run.vms.length} VMs (${deletes} deletes); ${calls.length} calls, ~${hit} answered 503/dropped/unfinished, plus slow ones`, ...outcome };
  },
};
