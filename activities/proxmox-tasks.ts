import { Context } from '@temporalio/activity';
import type { Capabilities, ProxboxClient } from '../clients/proxbox';
import { withHeartbeat } from './heartbeat';

export type TaskOutcome =
  | { done: true; ok: true; warnings: string | null }
  | { done: true; ok: false; reason: string }
  | { done: false; why: string };

const sleep = (ms: number) => new Promise<void>((resolve, reject) => {
  const signal = Context.current().cancellationSignal;
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

/**
 * Waits for a Proxmox task (contract §10 b), heartbeating while it runs. Without the task route, a create is
 * confirmed by the guest appearing with no lock (§8.5); anything else stays "accepted".
 */
export async function waitForTask(
  client: ProxboxClient, caps: Capabilities, target: { backendEndpointId: number; node: string; upid: string | null; vmid: number; op: 'create' | 'update' | 'destroy' },
  opts: { pollMs: number; deadlineMs: number },
): Promise<TaskOutcome> {
  const ctx = Context.current();
  const deadline = Date.now() + opts.deadlineMs;
  let delay = opts.pollMs;
  if (caps.taskStatus && target.upid) {
    while (Date.now() < deadline) {
      // A slow answer still heartbeats: a long sleep plus a slow call must not outlast the heartbeat timeout.
      const s = await withHeartbeat({ upid: target.upid, phase: 'task status' },
        () => client.taskStatus(target.backendEndpointId, target.node, target.upid!, ctx.cancellationSignal));
      if (s.status === 'stopped') {
        const exit = s.exitstatus ?? null;
        if (exit === 'OK') return { done: true, ok: true, warnings: null };
        if (exit?.startsWith('WARNINGS')) return { done: true, ok: true, warnings: exit };
        if (exit === null) return { done: false, why: 'the task stopped without an exit status' };
        return { done: true, ok: false, reason: exit };
      }
      // Heartbeat only while really waiting: a task that is already done costs Temporal no heartbeat.
      ctx.heartbeat({ upid: target.upid, status: s.status });
      await sleep(delay);
      delay = Math.min(delay * 2, 15_000);
    }
    return { done: false, why: `task ${target.upid} still running after ${Math.round(opts.deadlineMs / 1000)} s` };
  }
  // An update is a synchronous config PUT (no task): a succeeded item with no UPID has already happened.
  if (target.op === 'update') return target.upid ? { done: false, why: 'proxbox-api cannot report task status' } : { done: true, ok: true, warnings: null };
  while (Date.now() < deadline) {
    const guest = await client.findGuest(target.backendEndpointId, target.vmid, ctx.cancellationSignal);
    ctx.heartbeat({ vmid: target.vmid, present: guest !== null, lock: guest?.lock ?? null });
    if (target.op === 'create' && guest && !guest.lock) return { done: true, ok: true, warnings: null };
    if (target.op === 'destroy' && !guest) return { done: true, ok: true, warnings: null };
    await sleep(delay);
    delay = Math.min(delay * 2, 15_000);
  }
  return { done: false, why: `guest ${target.vmid} did not settle within ${Math.round(opts.deadlineMs / 1000)} s` };
}
