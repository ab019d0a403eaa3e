import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import type { LockLease, WriteLocks } from '../db/locks';

export interface WriteTarget { backendEndpointId: number; node: string; vmid: number }

/**
 * Waits for the right to write to one guest: its VMID is held by one apply at a time across all workers, and at
 * most `perNode` writes run against one Proxmox node. Heartbeats while waiting so a cancel still gets through.
 */
export async function acquireWriteSlot(locks: WriteLocks, t: WriteTarget, perNode: number, opts: { pollMs?: number; maxWaitMs?: number } = {}): Promise<LockLease> {
  const ctx = Context.current();
  const vmidKey = `proxbox-intent:vmid:${t.backendEndpointId}:${t.vmid}`;
  const deadline = Date.now() + (opts.maxWaitMs ?? 10 * 60_000);
  for (;;) {
    for (let slot = 0; slot < perNode; slot++) {
      const lease = await locks.tryAcquire([vmidKey, `proxbox-intent:node:${t.backendEndpointId}:${t.node}:${slot}`]);
      if (lease) return lease;
    }
    if (Date.now() > deadline) {
      throw ApplicationFailure.create({ message: `VMID ${t.vmid} or node ${t.node} stayed busy with other writes; will retry`, type: 'write_slot_busy' });
    }
    ctx.heartbeat({ waitingFor: `vmid ${t.vmid} / node ${t.node}` });
    await sleep(opts.pollMs ?? 200);
  }
}
