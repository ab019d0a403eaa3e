import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { PENDING_DELETION_TAG } from '../../contracts/proxbox-api';
import { backend } from '../../db/schema';
import { MESSAGES } from '../../domain/messages';
import { applyRunId } from '../../domain/run-identity';
import { CONFIRMATION_PHRASE } from '../../domain/settings';
import { DEMO } from '../../simulators/netbox';
import { PROXBOX_KEY, eventually, startStack, type Stack } from '../support/stack';

/**
 * Every gate of the seed's safety position, closed before a merge and while a run or an approval waits: no write
 * reaches proxbox-api (its call log), and the job, its per-VM results and the deletion request say why.
 */
describe('safety gates', () => {
  let s: Stack;
  let seq = 0;
  let labEndpointId: number;
  let proxboxUrl: string;
  const ALL_INTENT = ['intent_create_vm', 'intent_update_vm', 'intent_delete_vm', 'intent_create_lxc', 'intent_update_lxc', 'intent_delete_lxc'];

  beforeAll(async () => {
    s = await startStack();
    labEndpointId = (await s.call(s.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items[0].id;
    proxboxUrl = (await s.system.endpoints.getBackend())!.url;
  });
  afterAll(async () => { await s?.stop(); });
  afterEach(() => { s.proxbox.control.clearFaults(); });

  /** proxbox-api calls that change something (everything but reads and the read-only plan). */
  const isWrite = (c: { method: string; path: string }) => c.method !== 'GET' && c.path !== '/intent/plan';
  const writesSince = (mark: number) => s.proxbox.control.calls.slice(mark).filter(isWrite).map((c) => `${c.method} ${c.path}`);
  const appliedVmids = (mark: number) => s.proxbox.control.calls.slice(mark)
    .filter((c) => c.method === 'POST' && c.path === '/intent/apply').map((c) => (c.body as any).diffs[0].payload.vmid).sort();

  const setFlag = (on: boolean) => s.call(s.tokens.admin, 'PUT', '/api/v1/settings', on ? { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE } : { netboxToProxmoxEnabled: false });
  const setWrites = (allowWrites: boolean) => s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites });

  /** A qemu (or lxc) guest that exists in NetBox main and on the cluster, for updates and deletes. */
  function existingGuest(name: string, vmid: number, kind: 'qemu' | 'lxc') {
    const node = kind === 'qemu' ? 'pve01' : 'pve02';
    s.proxbox.cluster.addGuest({ vmid, node, type: kind, name, status: 'stopped', cores: 1, memory: 512 });
    return s.netbox.addMainVm({
      name, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: kind, proxmox_node: node, proxmox_storage: 'local-lvm' },
    });
  }
  const createSpec = (name: string, vmid: number) => ({
    name, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
    custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
  });
  const newBranch = (customFields: Record<string, unknown> = { apply_to_proxmox: true, apply_destroy_confirmed: true }) =>
    s.netbox.createBranch({ name: `gate-${++seq}`, owner: 'bob', customFields });

  async function finishedJob(branchId: number) {
    return eventually(async () => {
      const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branchId}`)).body.items[0];
      if (!j || !['succeeded', 'partial', 'failed'].includes(j.state)) return undefined;
      return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${j.id}`)).body;
    }, `the apply job of branch ${branchId}`);
  }
  const results = (job: any) => Object.fromEntries(Object.values(job.perVmResults as Record<string, any>).map((r) => [r.name, `${r.status}: ${r.message}`]));
  /** A merged branch that deletes a qemu guest: its deletion request, pending and tagged, awaiting approval. */
  async function deletionAwaitingApproval(name: string, vmid: number) {
    const doomed = existingGuest(name, vmid, 'qemu');
    const branch = newBranch();
    s.netbox.deleteVm(branch.id, doomed.pk);
    await s.netbox.mergeBranch(branch.id, 'alice');
    expect((await finishedJob(branch.id)).state).toBe('succeeded');
    return eventually(async () => {
      const r = (await deletionRequestsOf(branch.id))[0];
      return r?.state === 'pending' && r.taggedPendingDeletion ? r : undefined;
    }, 'the pending, tagged deletion request');
  }
  const deletionRequestsOf = async (branchId: number) => (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${branchId}`)).body.items;

  it('master flag off: the merge records a failed job whose every result says so, and nothing is written', async () => {
    const mark = s.proxbox.control.calls.length;
    expect((await setFlag(false)).status).toBe(200);
    try {
      const { branch } = s.netbox.buildDemoBranch({ name: `demo-flag-${++seq}` });
      await s.netbox.mergeBranch(branch.id, 'alice');
      const job = await finishedJob(branch.id);
      expect(job.state).toBe('failed');
      expect(results(job)).toEqual({
        'web-03': `blocked: ${MESSAGES.masterFlagDisabled}`, 'db-01': `blocked: ${MESSAGES.masterFlagDisabled}`,
        'cache-01': `blocked: ${MESSAGES.masterFlagDisabled}`, 'old-app-02': `blocked: ${MESSAGES.masterFlagDisabled}`,
      });
      expect(Object.values(job.perVmResults).map((r: any) => r.reason)).toEqual(Array(4).fill('master_flag_disabled'));
      expect(await deletionRequestsOf(branch.id)).toEqual([]);
      expect(writesSince(mark)).toEqual([]);
    } finally {
      await setFlag(true);
    }
  });

  it('branch not opted in: the merge starts no workflow at all, and the manual trigger refuses it', async () => {
    const mark = s.proxbox.control.calls.length;
    const branch = newBranch({});
    s.netbox.createVm(branch.id, createSpec('quiet-01', 601));
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries.map((d) => [d.status, JSON.parse(d.responseBody!)])).toEqual([[202, { ignored: MESSAGES.notOptedIn }]]);
    const manual = await s.call(s.tokens.admin, 'POST', '/api/v1/apply-jobs', { branchId: branch.id });
    expect(manual.status).toBe(422);
    expect(manual.body).toMatchObject({ code: 'not_applicable', detail: MESSAGES.notOptedIn });
    expect((await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items).toEqual([]);
    const runId = applyRunId(branch.schemaId, s.netbox.branchJson(branch.id).merged_time!);
    await expect(s.system.temporal.workflow.getHandle(runId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(s.proxbox.control.calls.slice(mark)).toEqual([]);
  });

  it('permission missing per kind: that diff is sent nowhere and says which permission; the others proceed', async () => {
    expect((await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/alice', {
      permissions: ['view', 'authorize_deletion_request', 'intent_create_vm', 'intent_update_vm', 'intent_delete_vm', 'intent_update_lxc'],
    })).status).toBe(200);
    try {
      const vm = existingGuest('rbac-vm', 601, 'qemu');
      const ct = existingGuest('rbac-ct', 602, 'lxc');
      const branch = newBranch();
      s.netbox.createVm(branch.id, createSpec('rbac-new-vm', 603));
      s.netbox.createVm(branch.id, {
        ...createSpec('rbac-new-ct', 604),
        custom_fields: { proxmox_vm_id: 604, proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_storage: 'local-lvm', proxmox_ostemplate: DEMO.lxcTemplate },
      });
      s.netbox.updateVm(branch.id, vm.pk, { memory: 1024 });
      s.netbox.deleteVm(branch.id, ct.pk);
      const mark = s.proxbox.control.calls.length;
      await s.netbox.mergeBranch(branch.id, 'alice');
      const job = await finishedJob(branch.id);
      expect(job.state).toBe('partial');
      expect(results(job)).toMatchObject({
        'rbac-new-ct': 'blocked: permission denied: intent_create_lxc', 'rbac-ct': 'blocked: permission denied: intent_delete_lxc',
      });
      expect(Object.values(job.perVmResults).filter((r: any) => r.status === 'succeeded').map((r: any) => r.name).sort()).toEqual(['rbac-new-vm', 'rbac-vm']);
      expect(appliedVmids(mark)).toEqual([601, 603]);
      expect(writesSince(mark).filter((w) => w !== 'POST /intent/apply')).toEqual([]);
      expect(await deletionRequestsOf(branch.id)).toEqual([]);
    } finally {
      await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/alice', { permissions: [...ALL_INTENT, 'view', 'authorize_deletion_request'] });
    }

    // The three other permissions, by a user who holds only the create ones: nothing at all is sent, the job fails.
    s.netbox.addUser({ username: 'erin' });
    expect((await s.call(s.tokens.admin, 'POST', '/api/v1/users', { username: 'erin', permissions: ['view', 'intent_create_vm', 'intent_create_lxc'] })).status).toBe(201);
    const vmUpdate = existingGuest('vm-upd', 611, 'qemu');
    const vmDelete = existingGuest('vm-del', 612, 'qemu');
    const ctUpdate = existingGuest('ct-upd', 613, 'lxc');
    const branch = newBranch();
    s.netbox.updateVm(branch.id, vmUpdate.pk, { memory: 1024 });
    s.netbox.deleteVm(branch.id, vmDelete.pk);
    s.netbox.updateVm(branch.id, ctUpdate.pk, { memory: 1024 });
    const second = s.proxbox.control.calls.length;
    await s.netbox.mergeBranch(branch.id, 'erin');
    const job = await finishedJob(branch.id);
    expect(job.state).toBe('failed');
    expect(job.user).toBe('erin');
    expect(results(job)).toEqual({
      'vm-upd': 'blocked: permission denied: intent_update_vm', 'vm-del': 'blocked: permission denied: intent_delete_vm',
      'ct-upd': 'blocked: permission denied: intent_update_lxc',
    });
    expect(writesSince(second)).toEqual([]);
  });

  it('destroy confirmation missing: no deletion request and no tag for the DELETE, the create still applies', async () => {
    const doomed = existingGuest('doomed-01', 621, 'qemu');
    const branch = newBranch({ apply_to_proxmox: true, apply_destroy_confirmed: false });
    s.netbox.deleteVm(branch.id, doomed.pk);
    s.netbox.createVm(branch.id, createSpec('fresh-01', 622));
    const mark = s.proxbox.control.calls.length;
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await finishedJob(branch.id);
    expect(job.state).toBe('partial');
    expect(results(job)).toMatchObject({ 'doomed-01': `blocked: ${MESSAGES.destroyNotConfirmed}` });
    expect(Object.values(job.perVmResults).find((r: any) => r.name === 'fresh-01')).toMatchObject({ status: 'succeeded' });
    expect(writesSince(mark)).toEqual(['POST /intent/apply']);
    expect(appliedVmids(mark)).toEqual([622]);
    expect(await deletionRequestsOf(branch.id)).toEqual([]);
    expect(String(s.proxbox.cluster.getGuest(621)!.config.tags ?? '')).not.toContain(PENDING_DELETION_TAG);
  });

  it('no backend configured: a failed job naming it, and proxbox-api is not called at all', async () => {
    const db = s.system.database.db;
    await db.delete(backend);
    try {
      const branch = newBranch();
      s.netbox.createVm(branch.id, createSpec('nobackend-01', 631));
      const mark = s.proxbox.control.calls.length;
      await s.netbox.mergeBranch(branch.id, 'alice');
      const job = await finishedJob(branch.id);
      expect(job.state).toBe('failed');
      expect(results(job)).toEqual({ 'nobackend-01': `blocked: ${MESSAGES.noBackend}` });
      expect(Object.values(job.perVmResults)[0]).toMatchObject({ reason: 'no_backend' });
      expect(s.proxbox.control.calls.slice(mark)).toEqual([]);
    } finally {
      await s.system.endpoints.putBackend({ url: proxboxUrl, apiKey: PROXBOX_KEY, timeoutMs: 10_000 });
    }
  });

  it('endpoint allow_writes off: a failed job with writes_disabled_for_endpoint and no write', async () => {
    expect((await setWrites(false)).body).toMatchObject({ allowWrites: false, clusters: ['lab-cluster', '5'] });
    try {
      const doomed = existingGuest('doomed-02', 641, 'lxc');
      const branch = newBranch();
      s.netbox.createVm(branch.id, createSpec('nowrites-01', 642));
      s.netbox.deleteVm(branch.id, doomed.pk);
      const mark = s.proxbox.control.calls.length;
      await s.netbox.mergeBranch(branch.id, 'alice');
      const job = await finishedJob(branch.id);
      expect(job.state).toBe('failed');
      expect(results(job)).toEqual({ 'nowrites-01': `blocked: ${MESSAGES.writesDisabled}`, 'doomed-02': `blocked: ${MESSAGES.writesDisabled}` });
      expect(writesSince(mark)).toEqual([]);
      expect(await deletionRequestsOf(branch.id)).toEqual([]);
    } finally {
      await setWrites(true);
    }
  });

  for (const gate of [
    { name: 'allow_writes', close: () => setWrites(false), open: () => setWrites(true), reason: 'writes_disabled_for_endpoint', message: MESSAGES.writesDisabled },
    { name: 'the master flag', close: () => setFlag(false), open: () => setFlag(true), reason: 'master_flag_disabled', message: MESSAGES.masterFlagDisabled },
  ]) {
    it(`${gate.name} closed after the run planned: the writes still waiting are blocked, the ones in flight finish`, async () => {
      // Four creates run at once (APPLY_MAX_CONCURRENCY=4) and are held up in proxbox-api; the fifth waits for a lane.
      const base = gate.reason === 'master_flag_disabled' ? 660 : 650;
      const branch = newBranch();
      for (let i = 0; i < 5; i++) s.netbox.createVm(branch.id, createSpec(`late-${base + i}`, base + i));
      s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 3_000, times: 4 });
      const mark = s.proxbox.control.calls.length;
      await s.netbox.mergeBranch(branch.id, 'alice');
      await eventually(async () => (appliedVmids(mark).length === 4 ? true : undefined), 'four creates in flight');
      expect((await gate.close()).status).toBe(200);
      try {
        const job = await finishedJob(branch.id);
        expect(job.state).toBe('partial');
        const statuses = Object.values(job.perVmResults as Record<string, any>).map((r) => `${r.vmid}:${r.status}:${r.reason}`).sort();
        expect(statuses).toEqual([
          `${base}:succeeded:null`, `${base + 1}:succeeded:null`, `${base + 2}:succeeded:null`, `${base + 3}:succeeded:null`, `${base + 4}:blocked:${gate.reason}`,
        ]);
        expect(job.perVmResults[Object.keys(job.perVmResults).find((k) => job.perVmResults[k].vmid === base + 4)!].message).toBe(gate.message);
        expect(appliedVmids(mark)).toEqual([base, base + 1, base + 2, base + 3]);
        expect(s.proxbox.cluster.getGuest(base + 4)).toBeUndefined();
      } finally {
        await gate.open();
      }
    });
  }

  for (const flag of [{ enabled: false }, { allow_writes: false }] as const) {
    const name = Object.keys(flag)[0]!.replace('_', '-');
    it(`proxbox-api's endpoint with ${name} off after the plan: no write is sent, no guest created, each result blocked`, async () => {
      const existing = name === 'enabled' ? 681 : 691;
      const vm = existingGuest(`upd-${name}`, existing, 'qemu');
      const created = name === 'enabled' ? 682 : 692;
      const branch = newBranch();
      s.netbox.createVm(branch.id, createSpec(`new-${name}`, created));
      s.netbox.updateVm(branch.id, vm.pk, { memory: 1024 });
      const plan = await s.call(s.tokens.carol, 'POST', `/api/v1/branches/${branch.id}/plan`, {});
      expect(plan.body.permitted, JSON.stringify(plan.body.verdicts)).toBe(true);

      s.proxbox.cluster.updateEndpoint(1, flag);
      try {
        const mark = s.proxbox.control.calls.length;
        await s.netbox.mergeBranch(branch.id, 'alice');
        const job = await finishedJob(branch.id);
        expect(job.state).toBe('failed');
        expect(results(job)).toEqual({ [`new-${name}`]: `blocked: ${MESSAGES.writesDisabled}`, [`upd-${name}`]: `blocked: ${MESSAGES.writesDisabled}` });
        expect(Object.values(job.perVmResults).map((r: any) => r.reason)).toEqual(['writes_disabled_for_endpoint', 'writes_disabled_for_endpoint']);
        expect(writesSince(mark)).toEqual([]);
        expect(s.proxbox.cluster.getGuest(created)).toBeUndefined();
        expect(s.proxbox.cluster.getGuest(existing)!.config.memory).toBe(512);
      } finally {
        s.proxbox.cluster.updateEndpoint(1, { enabled: true, allow_writes: true });
      }
    });
  }

  it('proxbox-api\'s endpoint disabled while a deletion waits: the approval destroys nothing and no tag route is called', async () => {
    const pending = await deletionAwaitingApproval('upstream-wait-01', 695);

    s.proxbox.cluster.updateEndpoint(1, { enabled: false });
    try {
      const mark = s.proxbox.control.calls.length;
      expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${pending.id}/approve`, { vmid: 695 })).status).toBe(200);
      const final = await eventually(async () => {
        const r = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${pending.id}`)).body;
        return r.state === 'failed' && r.history.some((h: any) => h.action === 'untag_pending_deletion') ? r : undefined;
      }, 'the failed request');
      expect(final).toMatchObject({ state: 'failed', reasonCode: 'writes_disabled_for_endpoint', reason: MESSAGES.writesDisabled });
      expect(final.history.find((h: any) => h.action === 'untag_pending_deletion')).toMatchObject({ outcome: 'refused' });
      expect(writesSince(mark)).toEqual([]);
      expect(s.proxbox.cluster.getGuest(695)).toBeTruthy();
    } finally {
      s.proxbox.cluster.updateEndpoint(1, { enabled: true, allow_writes: true });
    }
  });

  it('master flag off while a deletion waits for approval: the approved request fails with the reason, no destroy route is called, the guest is untagged', async () => {
    const pending = await deletionAwaitingApproval('waiting-01', 671);
    expect(String(s.proxbox.cluster.getGuest(671)!.config.tags)).toContain(PENDING_DELETION_TAG);

    const mark = s.proxbox.control.calls.length;
    expect((await setFlag(false)).status).toBe(200);
    try {
      const approved = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${pending.id}/approve`, { vmid: 671 });
      expect(approved.status).toBe(200);
      const final = await eventually(async () => {
        const r = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${pending.id}`)).body;
        return r.state === 'failed' && r.history.some((h: any) => h.action === 'untag_pending_deletion') ? r : undefined;
      }, 'the failed, untagged request');
      expect(final).toMatchObject({ state: 'failed', reason: MESSAGES.masterFlagDisabled, authorizer: 'bob', taggedPendingDeletion: false });
      expect(s.proxbox.cluster.getGuest(671)).toBeTruthy();
      expect(String(s.proxbox.cluster.getGuest(671)!.config.tags ?? '')).not.toContain(PENDING_DELETION_TAG);
      expect(writesSince(mark)).toEqual(['PUT /intent/untag-pending-deletion']);
    } finally {
      await setFlag(true);
    }
  });
});
