import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStateQuery } from '../../workflows/definitions';
import { startStack, eventually, type Stack } from '../support/stack';
import { recordHistoryIfAsked } from '../support/histories';
import { mergeAndWait as mergeBranchAndWait } from '../support/merges';

const qemu = (vmid: number, node: string, extra: Record<string, unknown> = {}) => ({
  proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: node, proxmox_storage: 'local-lvm', ...extra,
});

describe('the ApplyWorkflow in depth', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  const mergeAndWait = (branchId: number) => mergeBranchAndWait(s, branchId);

  it('isolates each VM failure with a clear reason and carries on with the rest', async () => {
    s.netbox.addMainVm({ id: 830, name: 'web-01', cluster: 5, vcpus: '2.00', memory: 2048, custom_fields: qemu(110, 'pve02'), tags: ['prod', 'web'] });
    s.proxbox.cluster.moveGuest(105, 'pve02');
    const b = s.netbox.createBranch({ name: 'mixed-bag', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'clash-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(190, 'pve01') });
    s.netbox.createVm(b.id, { name: 'lost-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(370, 'pve09') });
    const nostore = s.netbox.createVm(b.id, { name: 'nostore-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(373, 'pve01', { proxmox_storage: 'ceph-gone' }) });
    s.netbox.createVirtualDisk(b.id, { virtual_machine: nostore.pk, name: 'scsi0', size: 4096 });
    s.netbox.createVm(b.id, { name: 'ci-bad', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(372, 'pve01', { cloud_init_user_data: '#cloud-config\nusers: []' }) });
    s.netbox.createVm(b.id, { name: 'ok-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(371, 'pve01'), tags: ['ok'] });
    s.netbox.updateVm(b.id, 830, { vcpus: '4.00' });
    s.netbox.updateVm(b.id, 805, { memory: 8192 });
    const job = await mergeAndWait(b.id);

    const byName = Object.fromEntries(Object.values<any>(job.perVmResults).map((r) => [r.name, r]));
    expect(job.state).toBe('partial');
    expect(byName['ok-01']).toMatchObject({ status: 'succeeded', op: 'create' });
    expect(byName['clash-01']).toMatchObject({ status: 'failed', reason: 'vmid_in_use' });
    expect(byName['clash-01'].message).toMatch(/already exists/);
    expect(byName['lost-01']).toMatchObject({ status: 'failed', reason: 'node_not_found' });
    expect(byName['lost-01'].message).toContain('pve09');
    expect(byName['nostore-01']).toMatchObject({ status: 'failed', reason: 'storage_not_found' });
    expect(byName['nostore-01'].message).toContain('ceph-gone');
    expect(byName['ci-bad']).toMatchObject({ status: 'blocked', reason: 'cloud_init_user_data_not_snippet' });
    expect(byName['web-01']).toMatchObject({ status: 'failed', reason: 'update_requires_vm_stop', op: 'update' });
    expect(byName['db-01']).toMatchObject({ status: 'failed', reason: 'toctou_mismatch' });
    expect(byName['db-01'].message).toBe("TOCTOU mismatch: vmid 105 was on node 'pve01' at plan, now on 'pve02'");

    const sent = s.proxbox.control.callsTo('POST', '/intent/apply').map((c) => (c.body as any).diffs[0].payload.vmid).sort();
    expect(sent, 'the locally blocked VM was never sent').toEqual([105, 110, 190, 370, 371, 373]);
    expect(s.proxbox.cluster.getGuest(373), 'no guest is left behind by a create on a missing storage').toBeFalsy();
    expect(s.proxbox.cluster.getGuest(110)).toMatchObject({ status: 'running' });
    expect(s.proxbox.cluster.pveCalls('PUT').filter((c) => /\/(105|110)\/config$/.test(c.path))).toHaveLength(0);
    expect(job.drift).toEqual({});
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-partial-failures');
  });

  it('skips a no-op update without calling proxbox-api and counts it as success', async () => {
    const before = s.proxbox.control.callsTo('POST', '/intent/apply').length;
    const b = s.netbox.createBranch({ name: 'text-only', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.updateVm(b.id, 830, { description: 'only NetBox prose changed' });
    const job = await mergeAndWait(b.id);
    expect(job.state).toBe('succeeded');
    expect(job.perVmResults['vm-830']).toMatchObject({ status: 'skipped', reason: 'no_op' });
    expect(s.proxbox.control.callsTo('POST', '/intent/apply')).toHaveLength(before);
  });

  it('after an unknown outcome, finds the guest it created instead of creating it twice', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'fail', phase: 'after', status: 502, body: { detail: 'Bad Gateway' }, times: 1 });
    const b = s.netbox.createBranch({ name: 'flaky-gateway', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'once-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(380, 'pve01') });
    const job = await mergeAndWait(b.id);
    const r = Object.values<any>(job.perVmResults)[0];
    // proxbox-api.md §8.5: the adopted guest is followed until its lock clears, then counted as created.
    expect(r).toMatchObject({ name: 'once-01', status: 'succeeded', reason: 'adopted' });
    expect(s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid === 380)).toHaveLength(1);
    expect(s.proxbox.cluster.pveCalls('POST', /^nodes\/pve01\/qemu$/).filter((c) => c.params.vmid === 380)).toHaveLength(1);
    expect(job.state).toBe('succeeded');
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-unknown-outcome-retried');
  });

  it('a worker that stops during a create loses nothing and repeats nothing', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1500, times: 1 });
    const b = s.netbox.createBranch({ name: 'worker-dies', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'phoenix-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(381, 'pve01') });
    s.netbox.createVm(b.id, { name: 'phoenix-02', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(382, 'pve01') });
    await s.netbox.mergeBranch(b.id, 'alice');
    await eventually(async () => (s.proxbox.control.callsTo('POST', '/intent/apply').some((c) => (c.body as any).diffs[0].payload.vmid === 381) ? true : undefined), 'the first create in flight');
    await s.restart();
    const job = await eventually(async () => {
      const item = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${b.id}`)).body.items[0];
      return item && ['succeeded', 'partial', 'failed'].includes(item.state) ? (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${item.id}`)).body : undefined;
    }, 'the apply to finish on the new worker', 60_000);
    expect(job.state).toBe('succeeded');
    const outcomes = Object.fromEntries(Object.values<any>(job.perVmResults).map((r) => [r.name, r.status]));
    expect(Object.keys(outcomes).sort()).toEqual(['phoenix-01', 'phoenix-02']);
    for (const status of Object.values(outcomes)) expect(status).toBe('succeeded');
    for (const vmid of [381, 382]) {
      expect(s.proxbox.cluster.pveCalls('POST', /^nodes\/pve01\/qemu$/).filter((c) => c.params.vmid === vmid), `one create of ${vmid}`).toHaveLength(1);
      expect(s.proxbox.cluster.getGuest(vmid)).toBeTruthy();
    }
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-worker-restarted');
  });

  it('never runs two applies\' writes to the same VMID at once', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 700, times: 2 });
    const one = s.netbox.createBranch({ name: 'race-a', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(one.id, { name: 'racer-a', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(390, 'pve01') });
    const two = s.netbox.createBranch({ name: 'race-b', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(two.id, { name: 'racer-b', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(390, 'pve02') });
    const [a, b] = await Promise.all([mergeAndWait(one.id), mergeAndWait(two.id)]);
    const results = [Object.values<any>(a.perVmResults)[0], Object.values<any>(b.perVmResults)[0]];
    expect(results.map((r) => r.status).sort()).toEqual(['failed', 'succeeded']);
    expect(results.find((r) => r.status === 'failed').reason).toBe('vmid_in_use');
    const calls = s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid === 390);
    expect(calls).toHaveLength(2);
    expect(Math.abs(calls[1]!.at - calls[0]!.at), 'the second write waited for the first to finish').toBeGreaterThanOrEqual(700);
  });

  it('counts a create as done only when its Proxmox task finished OK', async () => {
    s.proxbox.cluster.failNextTasks('unable to create VM 397 - no space left on device');
    const b = s.netbox.createBranch({ name: 'full-disk', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'full-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(397, 'pve01') });
    const job = await mergeAndWait(b.id);
    const r = Object.values<any>(job.perVmResults)[0];
    expect(r).toMatchObject({ status: 'failed', reason: 'proxmox_task_failed' });
    expect(r.message).toBe('Proxmox task failed: unable to create VM 397 - no space left on device');
    expect(r.proxmoxUpid).toMatch(/^UPID:pve01:.*:qmcreate:397:/);
    expect(job.state).toBe('failed');
  });

  it('reports drift when Proxmox does not hold what was asked for', async () => {
    const b = s.netbox.createBranch({ name: 'drifty', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'drift-01', cluster: 5, vcpus: '2.00', memory: 1024, custom_fields: qemu(395, 'pve01') });
    s.proxbox.control.addFault({ method: 'GET', path: '^/proxmox/pve01/qemu/395/config$', mode: 'fail', status: 200, body: { name: 'drift-01', cores: 1, memory: 1024 } });
    const job = await mergeAndWait(b.id);
    expect(job.state).toBe('succeeded');
    expect(Object.values(job.drift)).toEqual([{ vmid: 395, fields: [{ field: 'cores', desired: '2', actual: '1' }] }]);
  });

  it('streams the live log over SSE, resumable with Last-Event-ID, ending with the real outcome', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 400, times: 1 });
    const b = s.netbox.createBranch({ name: 'watched', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(b.id, { name: 'watched-01', cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(396, 'pve01') });
    await s.netbox.mergeBranch(b.id, 'alice');
    const job = await eventually(async () => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${b.id}`)).body.items[0], 'the job');
    const state = await s.system.temporal.workflow.getHandle(job.workflowId).query(applyStateQuery);
    expect(['planning', 'applying', 'finishing', 'done']).toContain(state.phase);

    const read = async (lastEventId?: string) => {
      const res = await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, {
        headers: { authorization: `Bearer ${s.tokens.carol}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      return parseSse(await res.text());
    };
    const events = await read();
    expect(events.map((e) => e.event)).toEqual(['plan_summary', 'dispatch', 'result', 'log', 'complete']);
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ state: 'succeeded' });
    expect(JSON.parse(events[2]!.data)).toMatchObject({ name: 'watched-01', status: 'succeeded' });
    const resumed = await read(events[1]!.id);
    expect(resumed.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
    const after = await s.system.temporal.workflow.getHandle(job.workflowId).query(applyStateQuery);
    expect(after).toMatchObject({ phase: 'done', total: 1, done: 1, inFlight: [] });
    expect(Object.values(after.outcomes)).toEqual(['succeeded']);
  });
});

function parseSse(text: string): { id: string; event: string; data: string }[] {
  return text.trim().split(/\n\n+/).map((block) => {
    const field = (name: string) => block.split('\n').filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).trimStart()).join('\n');
    return { id: field('id'), event: field('event'), data: field('data') };
  });
}

describe('the per-node write cap', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ env: { APPLY_MAX_PER_NODE: '1' } }); });
  afterAll(async () => { await s?.stop(); });

  it('lets one write at a time reach a node when APPLY_MAX_PER_NODE=1, while another node proceeds', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 300 });
    const b = s.netbox.createBranch({ name: 'one-at-a-time', owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (const [i, node] of ['pve01', 'pve01', 'pve01', 'pve02'].entries()) {
      s.netbox.createVm(b.id, { name: `capped-${i}`, cluster: 5, vcpus: '1.00', memory: 512, custom_fields: qemu(410 + i, node) });
    }
    await s.netbox.mergeBranch(b.id, 'alice');
    await eventually(async () => {
      const item = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${b.id}`)).body.items[0];
      return item?.state === 'succeeded' ? item : undefined;
    }, 'the capped apply');
    const calls = s.proxbox.control.callsTo('POST', '/intent/apply');
    const onPve01 = calls.filter((c) => (c.body as any).diffs[0].payload.node === 'pve01').map((c) => c.at).sort((x, y) => x - y);
    expect(onPve01).toHaveLength(3);
    for (let i = 1; i < onPve01.length; i++) expect(onPve01[i]! - onPve01[i - 1]!, 'each pve01 write waited for the previous one').toBeGreaterThanOrEqual(300);
    const pve02 = calls.find((c) => (c.body as any).diffs[0].payload.node === 'pve02')!.at;
    expect(pve02, 'pve02 did not queue behind the pve01 writes').toBeLessThan(onPve01[2]!);
  });
});
