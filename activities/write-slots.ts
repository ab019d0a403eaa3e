import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import type { LockLease, WriteLocks } from '../db/locks';

export interface WriteTarget { backendEndpointId: number; node: string; vmid: number }

/** The lease keys of a write: its guest's VMID, and the node's write slots (one of which it takes). */
export function writeSlotKeys(t: WriteTarget, perNode: number): { vmid: string; slots: string[] } {
  return {
    vmid: `proxbox-intent:vmid:${t.backendEndpointId}:${t.vmid}`,
    slots: Array.from({ length: perNode }, (_, slot) => `proxbox-intent:node:${t.backendEndpointId}:${t.node}:${slot}`),
  };
}

/**
 * Waits for the right to write to one guest: its VMID is held by one write at a time across all workers, and at
 * most `perNode` writes run against one Proxmox node. `holder` names the write itself (not this attempt), so a
 * retry after a lost worker takes back the slot its earlier attempt holds (that attempt's Proxmox task may still be
 * running there) and nobody else can take it meanwhile. Heartbeats while waiting so a cancel still gets through.
 */
export async function acquireWriteSlot(locks: WriteLocks, t: WriteTarget, perNode: number, holder: string,
  opts: { pollMs?: number; maxWaitMs?: number; resume?: boolean } = {}): Promise<LockLease> {
  const ctx = Context.current();
  const keys = writeSlotKeys(t, perNode);
  const earlier = (opts.resume ?? ctx.info.attempt > 1) ? new Set(await locks.heldBy(holder)) : new Set<string>();
  const slots = [...keys.slots.filter((k) => earlier.has(k)), ...keys.slots.filter((k) => !earlier.has(k))];
  const deadline = Date.now() + (opts.maxWaitMs ?? 10 * 60_000);
  for (;;) {
    for (const slot of slots) {
      const lease = await locks.tryAcquire([keys.vmid, slot], holder);
      if (lease) return lease;
    }
    if (Date.now() > deadline) {
      throw ApplicationFailure.create({ message: `VMID ${t.vmid} or node ${t.node} stayed busy with other writes; will retry`, type: 'write_slot_busy' });
    }
    ctx.heartbeat({ waitingFor: `vmid ${t.vmid} / node ${t.node}` });
    await sleep(opts.pollMs ?? 200);
  }
}

/**
 * Takes back whatever `holder` still holds (what an attempt on a worker that died had taken), to keep it while that
 * attempt's task is followed or to give it back; null when it holds nothing, or another holder took it after it lapsed.
 */
export async function reclaimWriteSlot(locks: WriteLocks, holder: string): Promise<LockLease | null> {
  const keys = await locks.heldBy(holder);
  return keys.length ? locks.tryAcquire(keys, holder) : null;
}
