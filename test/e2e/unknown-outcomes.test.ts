import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack';
import { guestBranch, mergeAndWait as mergeBranchAndWait } from '../support/merges';

const qemu = (vmid: number) => ({ proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' });

/**
 * proxbox-api.md §8.5 after an unknown outcome: a guest with our name, node and kind counts as created, and is then followed until
 * its lock clears or its task ends; the job records what Proxmox really holds, or says plainly that it does not know.
 */
describe('writes whose outcome was unknown', () => {
  let s: Stack;
  // Proxmox tasks take 2.5 s here, and a task is followed for at most 4 s.
  beforeAll(async () => { s = await startStack({ taskDurationMs: 2_500, env: { PROXMOX_TASK_DEADLINE_S: '4' } }); });
  afterAll(async () => { await s?.stop(); });

  const mergeAndWait = (branchId: number) => mergeBranchAndWait(s, branchId, 45_000);
  /** A branch creating one qemu guest whose create reaches Proxmox but whose answer is lost (502); the finished job and its one result. */
  async function createWithLostAnswer(branchName: string, vmName: string, vmid: number) {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'fail', phase: 'after', status: 502, body: { detail: 'Bad Gateway' }, times: 1 });
    const { branch } = guestBranch(s, branchName, vmid, { vmName });
    const job = await mergeAndWait(branch.id);
    return { job, r: job.perVmResults[Object.keys(job.perVmResults)[0]!] };
  }
  const createsOf = (vmid: number) => s.proxbox.cluster.pveCalls('POST', /^nodes\/pve01\/qemu$/).filter((c) => c.params.vmid === vmid);

  it('adopts the guest it created and reports it only once its create task has ended', async () => {
    const { job, r } = await createWithLostAnswer('adopt-follow', 'follow-01', 440);
    expect(r).toMatchObject({ vmid: 440, status: 'succeeded', reason: 'adopted' });
    expect(job.state).toBe('succeeded');
    expect(createsOf(440)).toHaveLength(1);
    const task = s.proxbox.cluster.listTasks().find((t) => t.type === 'qmcreate' && t.id === '440')!;
    expect(new Date(job.finishedAt).getTime(), 'the result waited for the create task').toBeGreaterThanOrEqual(task.endsAt);
    expect(s.proxbox.cluster.getGuest(440)).toMatchObject({ lock: null });
  });

  it('reports an adopted create whose task failed as failed, not as created', async () => {
    s.proxbox.cluster.failNextTasks('unable to create VM 441 - no space left on device');
    const { job, r } = await createWithLostAnswer('adopt-fail', 'doomed-441', 441);
    expect(r).toMatchObject({ vmid: 441, status: 'failed', reason: 'proxmox_task_failed' });
    expect(r.message).toContain('disappeared before its create finished');
    expect(job.state).toBe('failed');
    expect(s.proxbox.cluster.getGuest(441)).toBeUndefined();
    expect(createsOf(441)).toHaveLength(1);
  });

  it('says the outcome is unknown when the adopted guest stays locked past the deadline', async () => {
    // Our guest, held by a task that never ends; the first create request is lost before proxbox-api sees it.
    s.proxbox.cluster.addGuest({ vmid: 442, node: 'pve01', type: 'qemu', name: 'stuck-01', status: 'stopped', lock: 'create', cores: 1, memory: 512 });
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'fail', status: 502, body: { detail: 'Bad Gateway' }, times: 1 });
    const b = s.netbox.createBranch({ name: 'adopt-stuck', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'stuck-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(442) });
    const job = await mergeAndWait(b.id);
    const r = job.perVmResults[Object.keys(job.perVmResults)[0]!];
    expect(r).toMatchObject({ vmid: 442, status: 'unknown', reason: 'unknown_outcome' });
    expect(r.message).toMatch(/did not settle within 4 s.*Check qemu 442 in Proxmox/);
    expect(job.state).toBe('failed');
    expect(createsOf(442), 'nothing was created twice').toHaveLength(0);
  });
});
