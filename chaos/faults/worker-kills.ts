import { FINAL_JOB, inFlight, jobStateNow, settle, startRun } from '../scenario';
import { randomBetween, SETTLE_BOUND_MS, sleep, type Fault } from './common';

type Phase = 'creates' | 'taskWaits' | 'destroys';
const PHASES: Phase[] = ['creates', 'taskWaits', 'destroys'];
/**
 * Each kill stalls the writes in flight until their heartbeat timeout (45 s): with 16 at a time a 200-VM apply was
 * over after 14 of the 20 kills. With 4 at a time it outlasts them, so every kill lands inside the apply.
 */
const FEW_WRITES = { APPLY_MAX_CONCURRENCY: '4' };
const LABEL: Record<Phase, string> = { creates: 'mid-create', taskWaits: 'mid-task-wait', destroys: 'mid-destroy' };

/**
 * kill -9 of the only worker at N points of one apply (a worker is started again each time). The points rotate over
 * three moments: a create inside proxbox-api (a share of creates is slowed so one is there), a create's Proxmox task
 * running, and an approved deletion executing (its execute call is slowed); each kill waits, at most 20 s, for its
 * moment (then at most 40 s more for any of them) and then a random 0–300 ms more.
 */
export const workerKills: Fault = {
  name: 'kill -9 the worker',
  async run(h, o) {
    const kills = o.short ? 3 : 20;
    const creates = o.short ? 36 : 190;
    const deletes = o.short ? 4 : 10;
    await h.startWorker(FEW_WRITES);
    h.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_500, probability: 0.3 });
    h.proxbox.control.addFault({ method: 'POST', path: '/execute$', mode: 'slow', delayMs: 2_500 });
    const run = await startRun(h, 'kill', { creates, deletes, firstVmid: o.firstVmid });
    const points: Record<string, number> = {};
    let afterTheRun = 0;
    for (let k = 0; k < kills; k++) {
      const want = PHASES[k % PHASES.length]!;
      // Its moment for at most 20 s, then any moment of the apply for at most 40 s more: the writes a killed worker
      // had in flight resume only after their heartbeat timeout (45 s), and a kill before that finds nothing going on.
      let deadline = Date.now() + 20_000;
      while (inFlight(h)[want] === 0 && Date.now() < deadline) await sleep(50);
      deadline = Date.now() + 40_000;
      while (inFlight(h)[want] === 0 && !PHASES.some((p) => inFlight(h)[p] > 0) && Date.now() < deadline) await sleep(50);
      await sleep(randomBetween(0, 300));
      const now = inFlight(h);
      const seen = PHASES.filter((p) => now[p] > 0).map((p) => LABEL[p]);
      const label = seen.length ? seen.join('+') : 'idle';
      points[label] = (points[label] ?? 0) + 1;
      if (FINAL_JOB.includes(await jobStateNow(h, run))) afterTheRun += 1;
      const [victim] = [...h.workers];
      if (victim) await h.killWorker(victim);
      o.log(`  kill ${k + 1}/${kills} (${label}: ${now.creates} creates in proxbox-api, ${now.taskWaits} create tasks, ${now.destroys} destroys)`);
      await h.startWorker(FEW_WRITES);
      await sleep(randomBetween(500, 3_000));
    }
    const stoppedAt = Date.now();
    h.proxbox.control.clearFaults();
    const outcome = await settle(h, run, stoppedAt, SETTLE_BOUND_MS);
    await h.killAllWorkers();
    const where = Object.entries(points).map(([p, n]) => `${n} ${p}`).join(', ');
    return { fault: `kill -9 worker ×${kills}`, detail: `${run.vms.length} VMs (${deletes} deletes); kills: ${where}${afterTheRun ? `; ${afterTheRun} of them after the job was final` : ''}`, ...outcome };
  },
};
