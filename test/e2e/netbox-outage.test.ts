import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Branch } from '../../contracts/netbox';
import { NetboxClient } from '../../clients/netbox';
import { ApplyJobStore } from '../../db/apply-jobs';
import { ApplyStarter } from '../../services/apply-starter';
import { DEMO } from '../../simulators/netbox';
import { finishedJob } from '../support/merges';
import { startStack, eventually, NETBOX_TOKEN, type Stack } from '../support/stack';

const CHANGES = '/api/plugins/branching/changes/';

describe('NetBox during an apply: pages of ChangeDiffs, and failures that heal', () => {
  let s: Stack;
  let seq = 0;
  // Every list is read two items per page, so each apply below walks several pages.
  beforeAll(async () => { s = await startStack({ env: { NETBOX_PAGE_SIZE: '2' } }); });
  afterAll(async () => { await s?.stop(); });

  /** A branch creating `n` qemu guests, each with a 4 GiB disk. */
  function guestsBranch(n: number) {
    seq += 1;
    const branch = s.netbox.createBranch({ name: `outage-${seq}`, owner: 'bob', customFields: { apply_to_proxmox: true } });
    const vmids: number[] = [];
    for (let i = 0; i < n; i++) {
      const vmid = 800 + seq * 10 + i;
      const vm = s.netbox.createVm(branch.id, {
        name: `out-${seq}-${i}`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512,
        custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
      });
      s.netbox.createVirtualDisk(branch.id, { virtual_machine: vm.pk, name: 'scsi0', size: 4096 });
      vmids.push(vmid);
    }
    return { branch, vmids };
  }

  const job = async (id: string) => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body;
  const finished = (id: string) => finishedJob(s, id);
  const jobOfBranch = (branchId: number) => eventually(async () => {
    return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branchId}`)).body.items[0] as any;
  }, `the job of branch ${branchId}`);
  const errorWhileRetrying = (id: string) => eventually(async () => {
    const j = await job(id);
    return j.error ? j : undefined;
  }, `an error on job ${id}`);

  it('reads the ChangeDiffs of five VMs and their disks over pages of two and applies each VM once, with its disk', async () => {
    const { branch, vmids } = guestsBranch(5);
    s.netbox.control.clearCalls();
    await s.netbox.mergeBranch(branch.id, 'alice');
    const done = await finished((await jobOfBranch(branch.id)).id);
    expect(done.state, JSON.stringify(done.perVmResults)).toBe('succeeded');
    expect(Object.values(done.perVmResults).map((r: any) => r.vmid).sort()).toEqual(vmids);

    const reads = s.netbox.control.callsTo('GET', CHANGES).map((c) => c.query).filter((q) => q.branch_id === String(branch.id));
    const paged = (objectType: string) => reads.filter((q) => q.object_type === objectType && q.id === undefined).map((q) => [q.limit, q.offset]);
    // Planning page by page: an index pass, then the VM diffs again a page at a time, each page with its VMs' disk
    // diffs read by id (each VM's apply below carries its disk); no read holds the whole branch.
    expect(paged('virtualization.virtualmachine')).toEqual([['2', '0'], ['2', '2'], ['2', '4'], ['2', '0'], ['2', '2'], ['2', '4']]);
    expect(paged('virtualization.virtualdisk')).toEqual([['2', '0'], ['2', '2'], ['2', '4']]);
    for (const vmid of vmids) {
      const applies = s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid === vmid);
      expect(applies).toHaveLength(1);
      expect((applies[0]!.body as any).diffs[0].payload.disks).toEqual([{ key: 'scsi0', value: 'local-lvm:4' }]);
    }
  });

  it('NetBox answering 401 while the plan is read: the job says so while it retries, then succeeds and the error is cleared', async () => {
    const { branch, vmids } = guestsBranch(1);
    // The three ChangeDiff reads of the first attempt are refused; the merge hook's own branch read is not affected.
    s.netbox.control.addFault({ method: 'GET', path: `^${CHANGES}$`, mode: 'fail', status: 401, body: { detail: 'Invalid v2 token.' }, times: 3 });
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries[0]!.status).toBe(202);
    const { id } = await jobOfBranch(branch.id);

    const retrying = await errorWhileRetrying(id);
    expect(retrying.state).toBe('queued');
    expect(retrying.error).toBe(`NetBox rejected the token (401) on GET ${CHANGES}: Invalid v2 token. (attempt 1; retrying)`);
    const done = await finished(id);
    expect(done).toMatchObject({ state: 'succeeded', error: null });
    expect(Object.values(done.perVmResults).map((r: any) => [r.vmid, r.status])).toEqual([[vmids[0], 'succeeded']]);
  });

  it('NetBox dropping connections while the plan is read: unreachable while it retries, then succeeds', async () => {
    const { branch } = guestsBranch(1);
    s.netbox.control.addFault({ method: 'GET', path: `^${CHANGES}$`, mode: 'drop', times: 3 });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const { id } = await jobOfBranch(branch.id);
    const retrying = await errorWhileRetrying(id);
    expect(retrying.error).toMatch(new RegExp(`^NetBox is unreachable \\(GET ${CHANGES}\\): .+ \\(attempt 1; retrying\\)$`));
    expect(await finished(id)).toMatchObject({ state: 'succeeded', error: null });
  });

  it('NetBox stopped after the merge was confirmed: the job names the outage, and the run continues when NetBox is back', async () => {
    const { branch, vmids } = guestsBranch(2);
    s.netbox.dropNextDeliveries(1);
    await s.netbox.mergeBranch(branch.id, 'alice');
    // The merge is confirmed (as the hook or the reconciler does), then NetBox goes away before the plan is read.
    const confirmed = Branch.parse(s.netbox.branchJson(branch.id));
    const port = Number(new URL(s.netbox.url!).port);
    await s.netbox.close();
    const starter = new ApplyStarter({
      netbox: new NetboxClient({ baseUrl: `http://127.0.0.1:${port}`, token: NETBOX_TOKEN }),
      jobs: new ApplyJobStore(s.system.database.db), temporal: s.system.temporal, taskQueue: s.taskQueue, maxConcurrency: 4, lookbackHours: 24,
    });
    const start = await starter.startForMerge(confirmed, 'api');
    expect(start.outcome).toBe('started');
    const id = start.outcome === 'started' ? start.job.id : '';

    const retrying = await errorWhileRetrying(id);
    expect(retrying.error).toMatch(/^NetBox is unreachable \(GET \/api\/plugins\/branching\/branches\/\d+\/\): .*ECONNREFUSED.* \(attempt \d+; retrying\)$/);
    expect(s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => vmids.includes((c.body as any).diffs[0].payload.vmid))).toHaveLength(0);

    await s.netbox.listen(port);
    const done = await finished(id);
    expect(done).toMatchObject({ state: 'succeeded', error: null });
    expect(Object.values(done.perVmResults).map((r: any) => r.vmid).sort()).toEqual(vmids);
  });
});
