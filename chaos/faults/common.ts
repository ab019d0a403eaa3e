import type { Harness } from '../harness';
import type { Outcome, Run } from '../scenario';

export interface FaultOptions { short: boolean; log(line: string): void; firstVmid: number }

export interface FaultReport extends Outcome { fault: string; detail: string }

export interface Fault { name: string; run(h: Harness, o: FaultOptions): Promise<FaultReport> }

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const randomBetween = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

/** How many of the run's creates have reached Proxmox so far, of how many. */
export function createsReached(h: Harness, run: Run): { reached: number; of: number } {
  const vmids = new Set(run.vms.filter((v) => v.op === 'create').map((v) => v.vmid));
  const created = new Set(h.proxbox.cluster.pveLog.filter((e) => e.method === 'POST' && vmids.has(Number(e.params.vmid))).map((e) => Number(e.params.vmid)));
  return { reached: created.size, of: vmids.size };
}

/** Resolves once `share` of the run's creates have reached Proxmox (the run is under way), or after `timeoutMs`. */
export async function progressed(h: Harness, run: Run, share: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { reached, of } = createsReached(h, run);
    if (reached >= share * of) return;
    await sleep(200);
  }
}

/**
 * How long after the faults stop a job and its deletion requests must be final; past it they are stuck. The
 * service's longest retry interval is 5 minutes (deletion bookkeeping, workflows/deletion.ts), plus a minute.
 */
export const SETTLE_BOUND_MS = 360_000;
