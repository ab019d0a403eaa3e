import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack';
import { getRequest, requestDeletion, settled } from '../support/deletion-requests';
import { finishedJob, guestBranch, jobsOfBranch } from '../support/merges';

/**
 * A destroy is a write like any other: it takes its VMID and a slot on its node (README "Apply runs", "Exactly once"),
 * so with one slot per node it waits while an apply's create runs there, and the node never runs two tasks at once.
 */
describe('a destroy takes a write slot on its node', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ taskDurationMs: 3_000, env: { APPLY_MAX_PER_NODE: '1', PROXMOX_TASK_POLL_MS: '100' } });
  });
  afterAll(async () => { await s?.stop(); });

  it("waits for an apply's create running on the same node, then destroys; never two tasks at once on the node", async () => {
    const { request } = await requestDeletion(s, { vmid: 701, name: 'retire-701', node: 'pve01', kind: 'qemu' });
    const { branch } = guestBranch(s, 'add-702', 702);
    await s.netbox.mergeBranch(branch.id, 'alice');
    // The create's Proxmox task has most of its 3 s still to run when the approval arrives.
    await eventually(async () => (s.proxbox.cluster.listTasks().some((t) => t.node === 'pve01' && t.id === '702' && t.endsAt > Date.now() + 2_000) ? true : undefined),
      'the create of 702 running on pve01', 60_000);
    const approved = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 701 });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);

    const done = await settled(s, request.id);
    expect(done.state, JSON.stringify(done.history, null, 1)).toBe('succeeded');
    expect(s.proxbox.cluster.getGuest(701)).toBeFalsy();
    const job = await finishedJob(s, (await jobsOfBranch(s, branch.id))[0].id);
    expect(job.state).toBe('succeeded');

    const tasks = s.proxbox.cluster.listTasks().filter((t) => t.node === 'pve01');
    const create = tasks.find((t) => t.id === '702')!;
    const destroy = tasks.find((t) => t.id === '701')!;
    expect(destroy.startedAt, 'the destroy started once the create had ended').toBeGreaterThanOrEqual(create.endsAt);
    expect(s.proxbox.cluster.maxConcurrentTasksPerNode()['1/pve01']).toBe(1);
    expect((await getRequest(s, request.id)).reasonCode).toBeNull();
  }, 180_000);
});
