import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhookBody } from '../../domain/webhook-signature';
import { findFreePort } from '../../infra/temporal-dev-server';
import { reconcilerScheduleId } from '../../services/reconciler-schedule';
import { DEMO } from '../../simulators/netbox';
import * as m from '../support/merges';
import { startStack, eventually, WEBHOOK_SECRET, type Stack } from '../support/stack';
import { startServiceProcess, startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * Production's shape: two API processes (A in this process, B a process of its own) and three worker processes on one
 * Temporal server and one PostgreSQL. What one process starts, another shows, cancels, deduplicates or finishes.
 */
describe('two APIs and three workers on one Temporal server and one PostgreSQL', () => {
  let s: Stack;
  let apiB: string;
  const processes: WorkerProcess[] = [];
  let workers: WorkerProcess[] = [];
  let seq = 0;
  beforeAll(async () => {
    s = await startStack({ role: 'api', taskDurationMs: 400, env: { APPLY_MAX_CONCURRENCY: '8', APPLY_MAX_PER_NODE: '2', PROXMOX_TASK_POLL_MS: '100' } });
    const port = await findFreePort();
    const [b, ...w] = await Promise.all([
      startServiceProcess('api', s.env, { PORT: String(port) }),
      startWorkerProcess(s.env), startWorkerProcess(s.env), startWorkerProcess(s.env),
    ]);
    processes.push(b!, ...w);
    workers = w;
    apiB = `http://127.0.0.1:${port}`;
  }, 300_000);
  afterAll(async () => {
    for (const p of processes) p.signal('SIGKILL');
    await s?.stop();
  });

  const onB = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiB}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  const hook = (api: string, body: string) => fetch(`${api}/api/v1/hooks/netbox`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, body) }, body,
  });
  /** A branch creating `n` qemu guests, alternating pve01 and pve02. */
  function branchOf(n: number, first: number) {
    seq += 1;
    const branch = s.netbox.createBranch({ name: `procs-${seq}`, owner: 'bob', customFields: { apply_to_proxmox: true } });
    const vms = Array.from({ length: n }, (_, i) => ({ vmid: first + i, node: i % 2 ? 'pve02' : 'pve01', name: `procs-${seq}-${i}` }));
    for (const vm of vms) {
      s.netbox.createVm(branch.id, {
        name: vm.name, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
        custom_fields: { proxmox_vm_id: vm.vmid, proxmox_vm_type: 'qemu', proxmox_node: vm.node, proxmox_storage: 'local-lvm' },
      });
    }
    return { branch, vms };
  }
  const createsOf = (vmid: number, node: string) => s.proxbox.cluster.pveCalls('POST', `nodes/${node}/qemu`).filter((c) => Number(c.params.vmid) === vmid);

  it('the same merge webhook delivered to both APIs at once starts one job and one run', async () => {
    const { branch, vmid } = m.guestBranch(s, 'procs-dedup', 610);
    const body = await m.mergeUndelivered(s, branch.id);
    const answers = await Promise.all([s.api, apiB, s.api, apiB].map((api) => hook(api, body)));
    expect(answers.map((a) => a.status).every((st) => st >= 200 && st < 300), `statuses ${answers.map((a) => a.status)}`).toBe(true);
    const jobs = await m.jobsOfBranch(s, branch.id);
    expect(jobs).toHaveLength(1);
    expect((await m.finishedJob(s, jobs[0].id)).state).toBe('succeeded');
    expect(m.appliesTo(s, vmid)).toHaveLength(1);
    const runs = await eventually(async () => {
      let n = 0;
      for await (const _ of s.system.temporal.workflow.list({ query: `WorkflowId = '${m.currentRunId(s, branch)}'` })) n += 1;
      return n > 0 ? n : undefined;
    }, 'the run in visibility');
    expect(runs).toBe(1);
  }, 120_000);

  it('a job started through A streams live on B, resumes on A with Last-Event-ID, and is cancelled through B', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_500 });
    const { branch, vms } = branchOf(12, 620);
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => (await m.jobsOfBranch(s, branch.id))[0], 'the job');

    // Live on B: read the stream as it arrives until the first result, then hang up.
    const abort = new AbortController();
    const live = await fetch(`${apiB}/api/v1/apply-jobs/${job.id}/events`, { headers: { authorization: `Bearer ${s.tokens.carol}` }, signal: abort.signal });
    expect(live.headers.get('content-type')).toContain('text/event-stream');
    const reader = live.body!.getReader();
    let text = '';
    while (!/event: ?result/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    const seenOnB = parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2));
    expect(seenOnB.map((e) => e.event)).toContain('result');
    expect((await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${job.id}`)).body.state, 'B showed the job live').toBe('running');

    const cancel = await onB(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect([200, 202]).toContain(cancel.status);
    const done = await m.finishedJob(s, job.id);
    s.proxbox.control.clearFaults();
    expect(done.state).toBe('failed');
    expect(done.perVmResults._cancelled).toMatchObject({ status: 'cancelled' });
    const statuses = vms.map((vm) => Object.values<any>(done.perVmResults).find((r) => r.vmid === vm.vmid)?.status);
    expect(statuses.filter((st) => st === 'cancelled').length, 'writes not yet sent were never sent').toBeGreaterThan(0);
    for (const [i, vm] of vms.entries()) {
      const guest = s.proxbox.cluster.getGuest(vm.vmid, 1);
      expect(!!guest, `${vm.vmid} ${statuses[i]} agrees with the cluster`).toBe(statuses[i] === 'succeeded');
    }

    // Resumed on A after the last event B delivered: exactly what follows it, ending with the outcome.
    const full = parseSse(await (await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, { headers: { authorization: `Bearer ${s.tokens.carol}` } })).text());
    const lastOnB = seenOnB.at(-1)!.id;
    const resumed = parseSse(await (await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, {
      headers: { authorization: `Bearer ${s.tokens.carol}`, 'last-event-id': lastOnB },
    })).text());
    expect(resumed.map((e) => e.id)).toEqual(full.slice(full.findIndex((e) => e.id === lastOnB) + 1).map((e) => e.id));
    expect(resumed.at(-1)).toMatchObject({ event: 'complete' });
    expect(JSON.parse(resumed.at(-1)!.data)).toMatchObject({ state: 'failed' });
  }, 180_000);

  it('kill -9 of one worker mid-apply: the other two finish it, each VM created once, the per-node cap held across workers', async () => {
    s.proxbox.cluster.reset();
    s.proxbox.cluster.seedDemoCluster();
    // Long tasks: the writes a node slot lets through overlap for most of their length, and the victim's task runs on
    // for seconds after the kill while other writes wait for its slot.
    s.proxbox.cluster.taskDurationMs = 3_000;
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 300 });
    const { branch, vms } = branchOf(16, 640);
    await s.netbox.mergeBranch(branch.id, 'alice');
    const started = await eventually(async () => (await m.jobsOfBranch(s, branch.id))[0], 'the job');
    // The victim is a worker following the Proxmox task of a write it sent (its heartbeat names the task), holding a
    // node slot while other writes wait for one (Temporal names the worker by `<pid>@<host>`).
    const detailsOf = (a: { heartbeatDetails?: { payloads?: { data?: Uint8Array | null }[] | null } | null }) => {
      const data = a.heartbeatDetails?.payloads?.[0]?.data;
      return data ? JSON.parse(Buffer.from(data).toString('utf8')) as { upid?: string; waitingFor?: string } : {};
    };
    const victim = await eventually(async () => {
      const pending = ((await s.system.temporal.workflow.getHandle(started.workflowId).describe()).raw.pendingActivities ?? [])
        .filter((a) => a.activityType?.name === 'applyGuestChange' && a.lastWorkerIdentity);
      if (!pending.some((a) => detailsOf(a).waitingFor)) return undefined;
      // Its task still has a while to run, so the cluster would show any write let into its slot early.
      const running = new Set(s.proxbox.cluster.listTasks().filter((t) => t.endsAt > Date.now() + 1_500).map((t) => t.upid));
      const pids = pending.filter((a) => running.has(detailsOf(a).upid ?? '')).map((a) => Number(a.lastWorkerIdentity!.split('@')[0]));
      return workers.find((w) => pids.includes(w.pid));
    }, 'a worker following a task while other writes wait for a slot');
    victim.signal('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const job = await eventually(async () => {
      const item = (await m.jobsOfBranch(s, branch.id))[0];
      return item && ['succeeded', 'partial', 'failed'].includes(item.state) ? (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${item.id}`)).body : undefined;
    }, 'the apply finished by the two other workers (after the heartbeat timeout)', 150_000);
    s.proxbox.control.clearFaults();
    s.proxbox.cluster.taskDurationMs = 400;
    expect(job.state).toBe('succeeded');
    for (const vm of vms) {
      expect(createsOf(vm.vmid, vm.node), `one create of ${vm.vmid}`).toHaveLength(1);
      expect(s.proxbox.cluster.getGuest(vm.vmid, 1)).toMatchObject({ name: vm.name, node: vm.node, lock: null });
      expect(Object.values<any>(job.perVmResults).find((r) => r.vmid === vm.vmid)).toMatchObject({ status: 'succeeded' });
    }
    const perNode = s.proxbox.cluster.maxConcurrentTasksPerNode();
    // A node slot is a lease of the write, not of the worker: the killed worker's slot stays taken while the Proxmox task
    // it started runs on, until the write's retry on another worker takes it back and follows that task to its end.
    expect(Object.values(perNode).every((n) => n <= 2), `most tasks at once per node: ${JSON.stringify(perNode)}`).toBe(true);
    expect(Math.max(...Object.values(perNode)), 'the cap was reached, so it was tested').toBeGreaterThanOrEqual(2);
  }, 240_000);

  it('every worker ensured one reconciler Schedule; a lost merge reconciled while its webhook reaches B starts once', async () => {
    const schedule = s.system.temporal.schedule.getHandle(reconcilerScheduleId(s.taskQueue));
    let schedules = 0;
    for await (const sc of s.system.temporal.schedule.list()) if (sc.scheduleId === reconcilerScheduleId(s.taskQueue)) schedules += 1;
    expect(schedules).toBe(1);
    const { branch, vmid } = m.guestBranch(s, 'procs-reconciled', 660);
    const body = await m.mergeUndelivered(s, branch.id);
    const before = (await schedule.describe()).info.numActionsTaken;
    const [, late] = await Promise.all([schedule.trigger(), hook(apiB, body)]);
    expect(late.status).toBeLessThan(300);
    await eventually(async () => ((await schedule.describe()).info.numActionsTaken > before ? true : undefined), 'the reconciler run');
    const jobs = await m.jobsOfBranch(s, branch.id);
    expect(jobs).toHaveLength(1);
    expect((await m.finishedJob(s, jobs[0].id)).state).toBe('succeeded');
    expect(m.appliesTo(s, vmid)).toHaveLength(1);
  }, 120_000);
});

function parseSse(text: string): { id: string; event: string; data: string }[] {
  return text.trim().split(/\n\n+/).filter(Boolean).map((block) => {
    const field = (name: string) => block.split('\n').filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).trimStart()).join('\n');
    return { id: field('id'), event: field('event'), data: field('data') };
  }).filter((e) => e.event);
}
