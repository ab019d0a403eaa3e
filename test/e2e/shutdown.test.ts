import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack';
import { BACKEND_APPROVE, EXECUTE, callsFor, getRequest, requestDeletion, settled, type GuestSpec } from '../support/deletion-requests';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * A deploy during a destroy: the worker gets SIGTERM (a real signal to `npm run start:worker`'s process) while Proxmox
 * is still destroying the guest. The request must end as the cluster ended, never `execution_interrupted` while the
 * destroy goes on.
 */
describe('SIGTERM to a worker during a destroy', () => {
  let s: Stack;
  const workers: WorkerProcess[] = [];
  const worker = async (extra: Record<string, string> = {}) => {
    const w = await startWorkerProcess(s.env, extra);
    workers.push(w);
    return w;
  };
  /** The newest worker if it still runs, else a new one: each test stands on its own. */
  const running = async () => {
    const last = workers.at(-1);
    const ended = last ? await Promise.race([last.exited.then(() => true), new Promise<boolean>((r) => { setImmediate(() => r(false)); })]) : true;
    return !ended && last ? last : worker();
  };

  beforeAll(async () => {
    // Workers run as processes of their own; this process serves the API and the simulators only.
    s = await startStack({ role: 'api' });
  }, 180_000);
  afterAll(async () => {
    for (const w of workers) w.signal('SIGKILL');
    await s?.stop();
  });

  /** Requests and approves the deletion of `guest`, with a destroy task that runs for `taskMs`, and waits for the destroy call. */
  async function destroyInFlight(guest: GuestSpec, taskMs: number) {
    const { request } = await requestDeletion(s, guest);
    s.proxbox.cluster.taskDurationMs = taskMs;
    const res = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: guest.vmid });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await eventually(async () => ((await getRequest(s, request.id)).proxmoxUpid ? true : undefined), 'the destroy call and its task id');
    expect(s.proxbox.cluster.getGuest(guest.vmid), 'Proxmox is still destroying the guest').toBeTruthy();
    return request;
  }

  it('a worker past its grace (or killed) leaves the request to the next worker, which records what Proxmox did', async () => {
    const quitter = await worker({ WORKER_SHUTDOWN_GRACE_S: '0' });
    const request = await destroyInFlight({ vmid: 731, name: 'deploy-731', node: 'pve01', kind: 'qemu' }, 6_000);
    quitter.signal('SIGTERM');
    expect((await quitter.exited).code, quitter.output()).toBe(0);
    expect(s.proxbox.cluster.getGuest(731), 'the destroy is still running after the worker left').toBeTruthy();
    await worker();

    const done = await settled(s, request.id);
    expect(done.state, JSON.stringify(done.history, null, 1)).toBe('succeeded');
    expect(done.reasonCode).toBeNull();
    expect(done.history.at(-1)).toMatchObject({ action: 'succeeded', outcome: 'ok' });
    expect(done.history.at(-1).detail).toMatch(/^The execution stopped without an answer \(.+\)\. destroy task finished OK$/);
    expect(s.proxbox.cluster.getGuest(731)).toBeUndefined();
    expect(callsFor(s, 'POST', EXECUTE, 731), 'the destroy is never sent twice').toHaveLength(1);
  }, 240_000);

  it('a worker stopped by SIGTERM lets the running destroy finish before it exits', async () => {
    const current = await running();
    const request = await destroyInFlight({ vmid: 732, name: 'deploy-732', node: 'pve02', kind: 'lxc' }, 4_000);
    current.signal('SIGTERM');
    const exit = await current.exited;
    expect(exit.code, current.output()).toBe(0);
    // It finished the destroy and recorded it before exiting: nobody else was there to do it.
    const atExit = await getRequest(s, request.id);
    expect(atExit.state, JSON.stringify(atExit.history, null, 1)).toBe('succeeded');
    expect(atExit.history.some((h: any) => h.action === 'failed')).toBe(false);
    expect(s.proxbox.cluster.getGuest(732)).toBeUndefined();

    await worker();
    await eventually(async () => ((await s.system.temporal.workflow.getHandle(request.workflowId).describe()).status.name === 'COMPLETED' ? true : undefined),
      'the workflow to complete on the new worker');
    expect(callsFor(s, 'POST', EXECUTE, 732)).toHaveLength(1);
  }, 240_000);

  it('a worker that stops before the destroy is sent says nothing was destroyed, and withdraws the backend record', async () => {
    const current = await running();
    const guest: GuestSpec = { vmid: 733, name: 'deploy-733', node: 'pve01', kind: 'qemu' };
    const { request } = await requestDeletion(s, guest);
    // Hold up the approval at proxbox-api (shorter than the backend's 10 s deadline): the worker is stopped (past its
    // grace) between registering and executing.
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/approve$', mode: 'slow', delayMs: 8_000, times: 1 });
    current.signal('SIGKILL');
    await current.exited;
    const quitter = await worker({ WORKER_SHUTDOWN_GRACE_S: '0' });
    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 733 })).status).toBe(200);
    await eventually(async () => (callsFor(s, 'POST', BACKEND_APPROVE, 733).length === 1 ? true : undefined), 'the held-up approval');
    quitter.signal('SIGTERM');
    await quitter.exited;
    // The held-up approval was abandoned, not waited for: the step passes the abort signal to its call.
    const recordId = Number(/\/(\d+)\/approve$/.exec(callsFor(s, 'POST', BACKEND_APPROVE, 733)[0]!.path)![1]);
    expect(s.proxbox.cluster.getDeletionRecord(recordId)).toMatchObject({ vmid: 733, state: 'pending' });
    await worker();

    const done = await settled(s, request.id);
    expect(done).toMatchObject({ state: 'failed', reasonCode: 'execution_interrupted' });
    expect(done.reason).toMatch(/^The execution stopped without an answer \(.+\)\. The destroy had not been sent: nothing was destroyed, and it is not retried\.$/);
    expect(callsFor(s, 'POST', EXECUTE, 733)).toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(733)).toBeTruthy();
    const withdrawn = s.proxbox.control.callsTo('POST', /^\/intent\/deletion-requests\/\d+\/reject$/);
    expect(withdrawn).toHaveLength(1);
    expect(withdrawn[0]!.path).toBe(`/intent/deletion-requests/${recordId}/reject`);
    expect(s.proxbox.cluster.getDeletionRecord(recordId)).toMatchObject({ state: 'rejected' });
  }, 240_000);

  it('a worker stopped by SIGTERM during a create lets the write and its Proxmox task finish, and records the result', async () => {
    const current = await running();
    s.proxbox.cluster.taskDurationMs = 4_000;
    const branch = s.netbox.createBranch({ name: 'deploy-during-create', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, {
      name: 'deploy-734', cluster: 5, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: 734, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
    });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const creates = () => s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid === 734);
    await eventually(async () => (creates().length === 1 ? true : undefined), 'the create call');
    current.signal('SIGTERM');
    expect((await current.exited).code, current.output()).toBe(0);
    const jobAt = async () => {
      const item = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${item.id}`)).body;
    };
    // The stopping worker followed the task to its end and recorded the outcome before it exited.
    const atExit = await jobAt();
    expect(Object.values<any>(atExit.perVmResults), JSON.stringify(atExit.perVmResults)).toEqual([expect.objectContaining({ vmid: 734, status: 'succeeded' })]);

    await worker();
    const done = await eventually(async () => {
      const j = await jobAt();
      return ['succeeded', 'partial', 'failed'].includes(j.state) ? j : undefined;
    }, 'the job to finish on the new worker');
    expect(done.state).toBe('succeeded');
    expect(creates()).toHaveLength(1);
    expect(s.proxbox.cluster.pveCalls('POST', /^nodes\/pve01\/qemu$/).filter((c) => c.params.vmid === 734)).toHaveLength(1);
  }, 240_000);
});
