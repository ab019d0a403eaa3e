import { Context } from '@temporalio/activity';
import type { Capabilities, ProxboxClient } from '../clients/proxbox';
import { withHeartbeat } from './heartbeat';
import type { ActivityMetrics } from './deps';

export type TaskOutcome =
  | { done: true; ok: true; warnings: string | null }
  | { done: true; ok: false; reason: string }
  /** `followable: false`: proxbox-api offers no way at all to follow this task; otherwise the deadline passed. */
  | { done: false; followable: boolean; why: string };

/** A sleep that ends early only when `signal` aborts (undefined: nothing interrupts it). */
const sleep = (ms: number, signal: AbortSignal | undefined) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

export interface TaskTarget { backendEndpointId: number; node: string; upid: string | null; vmid: number; op: 'create' | 'update' | 'destroy' }

export interface WaitOptions {
  pollMs: number;
  deadlineMs: number;
  /**
   * What may interrupt the wait: the activity's cancellation by default. A write already sent to proxbox-api passes
   * `null`, so a cancel waits for its outcome instead of leaving it unknown.
   */
  signal?: AbortSignal | null;
  /** Observes how long the task was followed, by outcome (a synchronous update has no task and is not observed). */
  metrics?: ActivityMetrics;
}

/** The `outcome` label of proxbox_intent_proxmox_task_duration_seconds. */
export function taskOutcomeLabel(t: TaskOutcome): 'ok' | 'failed' | 'deadline' | 'unfollowable' {
  if (t.done) return t.ok ? 'ok' : 'failed';
  return t.followable ? 'deadline' : 'unfollowable';
}

/**
 * Waits for a Proxmox task (proxbox-api.md §10 b), heartbeating while it runs. Without the task route, or when the task
 * stopped without an exit status, a create is confirmed by the guest being listed with no lock and a destroy by the
 * guest being gone (proxbox-api.md §8.5); a create whose guest vanishes again failed.
 */
export async function waitForTask(client: ProxboxClient, caps: Capabilities, target: TaskTarget, opts: WaitOptions): Promise<TaskOutcome> {
  if (!opts.metrics || (target.op === 'update' && !target.upid)) return followTask(client, caps, target, opts);
  const started = performance.now();
  let outcome = 'error';
  try {
    const task = await followTask(client, caps, target, opts);
    outcome = taskOutcomeLabel(task);
    return task;
  } finally {
    opts.metrics.proxmoxTask({ op: target.op, outcome }, (performance.now() - started) / 1000);
  }
}

async function followTask(client: ProxboxClient, caps: Capabilities, target: TaskTarget, opts: WaitOptions): Promise<TaskOutcome> {
  const ctx = Context.current();
  const signal = opts.signal === undefined ? ctx.cancellationSignal : opts.signal ?? undefined;
  const deadline = Date.now() + opts.deadlineMs;
  let delay = opts.pollMs;
  if (caps.taskStatus && target.upid) {
    while (Date.now() < deadline) {
      // A slow answer still heartbeats: a long sleep plus a slow call must not outlast the heartbeat timeout.
      const s = await withHeartbeat({ upid: target.upid, phase: 'task status' },
        () => client.taskStatus(target.backendEndpointId, target.node, target.upid!, signal));
      if (s.status === 'stopped') {
        const exit = s.exitstatus ?? null;
        if (exit === 'OK') return { done: true, ok: true, warnings: null };
        if (exit?.startsWith('WARNINGS')) return { done: true, ok: true, warnings: exit };
        if (exit !== null) return { done: true, ok: false, reason: exit };
        if (target.op === 'update') return { done: false, followable: true, why: `task ${target.upid} stopped without an exit status` };
        break; // proxbox-api.md §10 b: stopped with no exit status — read the guest (proxbox-api.md §8.1) to learn what happened.
      }
      // Heartbeat only while really waiting: a task that is already done costs Temporal no heartbeat.
      ctx.heartbeat({ upid: target.upid, status: s.status });
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 15_000);
    }
    if (Date.now() >= deadline) return { done: false, followable: true, why: `task ${target.upid} still running after ${Math.round(opts.deadlineMs / 1000)} s` };
  }
  // An update is a synchronous config PUT (no task): a succeeded item with no UPID has already happened.
  if (target.op === 'update') {
    return target.upid ? { done: false, followable: false, why: 'proxbox-api cannot report task status' } : { done: true, ok: true, warnings: null };
  }
  let seen = false;
  while (Date.now() < deadline) {
    const guest = await client.findGuest(target.backendEndpointId, target.vmid, signal);
    ctx.heartbeat({ vmid: target.vmid, upid: target.upid, present: guest !== null, lock: guest?.lock ?? null });
    if (target.op === 'create' && guest && !guest.lock) return { done: true, ok: true, warnings: null };
    if (target.op === 'create' && !guest && seen) return { done: true, ok: false, reason: `guest ${target.vmid} disappeared before its create finished` };
    if (target.op === 'destroy' && !guest) return { done: true, ok: true, warnings: null };
    seen ||= guest !== null;
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 15_000);
  }
  return { done: false, followable: true, why: `guest ${target.vmid} did not settle within ${Math.round(opts.deadlineMs / 1000)} s` };
}
