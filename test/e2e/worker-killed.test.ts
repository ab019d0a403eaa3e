import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../simulators/netbox';
import { startStack, eventually, type Stack } from '../support/stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * kill -9 of the only worker while six creates are in flight in proxbox-api: the next worker finds each guest the
 * lost writes created, follows it to the end of its create, and reports it created exactly once.
 */
describe('a worker killed with SIGKILL mid-create', () => {
  let s: Stack;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    s = await startStack({ role: 'api', env: { APPLY_MAX_CONCURRENCY: '8' } });
  }, 180_000);
  afterAll(async () => {
    for (const w of workers) w.signal('SIGKILL');
    await s?.stop();
  });

  it('six interrupted creates end as six succeeded, each created once', async () => {
    workers.push(await startWorkerProcess(s.env));
    const vmids = [470, 471, 472, 473, 474, 475];
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 2_000, times: 6 });
    const branch = s.netbox.createBranch({ name: 'sigkill', owner: 'bob', customFields: { apply_to_proxmox: true } });
    vmids.forEach((vmid, i) => s.netbox.createVm(branch.id, {
      name: `killed-${vmid}`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: i % 2 ? 'pve02' : 'pve01', proxmox_storage: 'local-lvm' },
    }));
    await s.netbox.mergeBranch(branch.id, 'alice');
    await eventually(async () => (s.proxbox.control.callsTo('POST', '/intent/apply').length === 6 ? true : undefined), 'six creates in flight');
    workers[0]!.signal('SIGKILL');
    expect((await workers[0]!.exited).signal).toBe('SIGKILL');
    // proxbox-api carries on with the requests it received: the guests are created while no worker runs.
    await eventually(async () => (vmids.every((v) => s.proxbox.cluster.getGuest(v)) ? true : undefined), 'the six guests created upstream');

    workers.push(await startWorkerProcess(s.env));
    const job = await eventually(async () => {
      const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      return j && ['succeeded', 'partial', 'failed'].includes(j.state) ? (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${j.id}`)).body : undefined;
    }, 'the apply to finish on the new worker (after the heartbeat timeout)', 150_000);
    expect(job.state).toBe('succeeded');
    const results = Object.values<any>(job.perVmResults);
    expect(results.map((r) => `${r.vmid}:${r.status}`).sort()).toEqual(vmids.map((v) => `${v}:succeeded`));
    for (const vmid of vmids) {
      const node = vmid % 2 ? 'pve02' : 'pve01';
      expect(s.proxbox.cluster.pveCalls('POST', new RegExp(`^nodes/${node}/qemu$`)).filter((c) => c.params.vmid === vmid), `one create of ${vmid}`).toHaveLength(1);
    }
    expect(s.proxbox.control.callsTo('POST', '/intent/apply'), 'nothing was sent twice').toHaveLength(6);
  }, 240_000);
});
