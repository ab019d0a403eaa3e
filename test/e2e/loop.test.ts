import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhookBody } from '../../domain/webhook-signature';
import { SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from '../../domain/messages';
import { startStack, eventually, WEBHOOK_SECRET, type Stack } from '../support/stack';
import { recordHistoryIfAsked } from '../support/histories';

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly ops@example.com';

describe('the whole loop: merge → apply → deletion request → four-eyes approval → destroy', () => {
  let s: Stack;
  let jobId: string;
  let mergeBody: string;

  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(async () => {
    await s?.stop();
  });

  async function job(id: string) {
    return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body;
  }

  it('a signed branch_merged webhook starts exactly one ApplyWorkflow that applies each VM and records each result', async () => {
    const { branch } = s.netbox.buildDemoBranch();
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries).toHaveLength(1);
    expect(merged.deliveries[0]!.status).toBe(202);
    mergeBody = merged.deliveries[0]!.body;

    const list = await eventually(async () => {
      const r = await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`);
      return r.body.items.length ? r.body.items : undefined;
    }, 'the apply job');
    expect(list).toHaveLength(1);
    jobId = list[0].id;
    const done = await eventually(async () => {
      const j = await job(jobId);
      return ['succeeded', 'partial', 'failed'].includes(j.state) ? j : undefined;
    }, 'the apply job to finish');

    expect(done.state, JSON.stringify(done.perVmResults, null, 1)).toBe('succeeded');
    expect(done.user).toBe('alice');
    expect(done.workflowId).toMatch(/^apply:[a-z0-9]{8}:\d{13}$/);
    expect(done.runUuid).toBe(done.workflowId);
    expect(done.temporalUrl).toBe(`http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(done.workflowId)}`);
    expect(done.branch).toEqual({ id: branch.id, schemaId: branch.schemaId, name: 'add-web-vms' });
    const r = done.perVmResults;
    expect(Object.keys(r).sort()).toEqual(['vm-790', 'vm-805', 'vm-812', 'vm-813']);
    expect(r['vm-812']).toMatchObject({ vmid: 312, netboxId: 812, name: 'web-03', op: 'create', kind: 'qemu', status: 'succeeded' });
    expect(r['vm-812'].proxmoxUpid).toMatch(/^UPID:pve01:/);
    expect(r['vm-805']).toMatchObject({ vmid: 105, op: 'update', kind: 'qemu', status: 'succeeded' });
    expect(r['vm-813']).toMatchObject({ vmid: 320, name: 'cache-01', op: 'create', kind: 'lxc', status: 'succeeded' });
    expect(r['vm-790']).toMatchObject({ vmid: 190, name: 'old-app-02', op: 'delete', kind: 'lxc', status: 'deletion_requested' });
    expect(r['vm-790'].deletionRequestId).toEqual(expect.any(Number));
    expect(done.drift, 'every applied guest read back as asked').toEqual({});
  });

  it('sent proxbox-api one diff per apply request, with exact payloads, and never a destroy', () => {
    const applies = s.proxbox.control.callsTo('POST', '/intent/apply');
    expect(applies).toHaveLength(3);
    const byVmid = new Map(applies.map((c) => [(c.body as any).diffs[0].payload.vmid, c]));
    for (const c of applies) {
      expect(c.query.endpoint_id).toBe('1');
      expect(c.headers['x-proxbox-api-key']).toBe('sim-proxbox-key');
      expect((c.body as any).diffs).toHaveLength(1);
      expect((c.body as any).actor).toBe('alice');
    }
    expect((byVmid.get(312)!.body as any).diffs[0]).toEqual({
      op: 'create', kind: 'qemu', netbox_id: 812,
      payload: {
        vmid: 312, node: 'pve01', name: 'web-03', cores: 2, memory_mib: 2048, tags: ['prod', 'web'],
        disks: [{ key: 'scsi0', value: 'local-lvm:32' }],
        nics: [{ key: 'net0', value: 'virtio=BC:24:11:31:20:01,bridge=vmbr0,tag=120' }],
        cloud_init: { user: 'ubuntu', ssh_keys: [SSH_KEY], user_data: 'user=local:snippets/web-03.yaml', network: { ip: '192.0.2.53', cidr: 24, gw: '192.0.2.1' } },
      },
    });
    expect((byVmid.get(105)!.body as any).diffs[0]).toEqual({ op: 'update', kind: 'qemu', netbox_id: 805, payload: { vmid: 105, node: 'pve01', cores: 4, memory_mib: 8192 } });
    expect((byVmid.get(320)!.body as any).diffs[0]).toEqual({
      op: 'create', kind: 'lxc', netbox_id: 813,
      payload: {
        vmid: 320, node: 'pve02', hostname: 'cache-01', cores: 1, memory_mib: 1024, tags: ['cache'], storage: 'local-lvm',
        ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', disks: [{ key: 'rootfs', value: 'local-lvm:8' }],
      },
    });
    expect((byVmid.get(312)!.body as any).run_uuid).toMatch(/^apply:[a-z0-9]{8}:\d{13}:812$/);
    expect(s.proxbox.control.callsTo('POST', /\/execute$/)).toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(312)).toMatchObject({ node: 'pve01', type: 'qemu', name: 'web-03' });
    expect(s.proxbox.cluster.getGuest(312)!.config.net0).toBe('virtio=BC:24:11:31:20:01,bridge=vmbr0,tag=120');
    expect(s.proxbox.cluster.getGuest(190)).toBeTruthy();
  });

  it('turned the delete into a pending DeletionRequest with a snapshot from the pre-merge data and a pending-deletion tag', async () => {
    const list = await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests?state=pending');
    expect(list.status).toBe(200);
    expect(list.body.items).toHaveLength(1);
    const dr = list.body.items[0];
    expect(dr).toMatchObject({ state: 'pending', vmid: 190, node: 'pve02', kind: 'lxc', name: 'old-app-02', requestedBy: 'alice', applyJobId: jobId, authorizer: null });
    expect(dr.workflowId).toMatch(/^deletion:[a-z0-9]{8}:\d{13}:790$/);
    expect(dr.metadataSnapshot).toMatchObject({ vmid: 190, node: 'pve02', kind: 'lxc', name: 'old-app-02', memoryMib: 1024, tags: ['legacy'] });
    expect(dr.metadataSnapshot.disks).toEqual([{ name: 'rootfs', sizeMb: 8192 }]);
    await eventually(async () => ((await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${dr.id}`)).body.taggedPendingDeletion ? true : undefined), 'the tag');
    const tags = s.proxbox.control.callsTo('PUT', '/intent/tag-pending-deletion');
    expect(tags).toHaveLength(1);
    expect(tags[0]!.body).toEqual({ vmid: 190, node: 'pve02', kind: 'lxc', tag: 'proxbox-pending-deletion' });
    expect(tags[0]!.query.endpoint_id).toBe('1');
  });

  it('a redelivered webhook starts nothing new', async () => {
    const before = s.proxbox.control.callsTo('POST', '/intent/apply').length;
    const res = await fetch(`${s.api}/api/v1/hooks/netbox`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, mergeBody) }, body: mergeBody,
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ outcome: 'existing', job: { id: jobId } });
    const jobs = await s.call(s.tokens.carol, 'GET', '/api/v1/apply-jobs');
    expect(jobs.body.items).toHaveLength(1);
    expect(s.proxbox.control.callsTo('POST', '/intent/apply')).toHaveLength(before);
  });

  it('refuses self-approval by the user who merged, and changes nothing', async () => {
    const dr = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items[0];
    const res = await s.call(s.tokens.alice, 'POST', `/api/v1/deletion-requests/${dr.id}/approve`, { vmid: 190 });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toMatchObject({ code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED, status: 403 });
    const after = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${dr.id}`)).body;
    expect(after.state).toBe('pending');
    expect(after.authorizer).toBeNull();
    expect(after.history.at(-1)).toMatchObject({ actor: 'alice', action: 'approve', outcome: 'refused' });
    expect(s.proxbox.control.callsTo('POST', /^\/intent\/deletion-requests/)).toHaveLength(0);
  });

  it('refuses a user without authorize_deletion_request and a wrongly typed VMID', async () => {
    const dr = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items[0];
    const denied = await s.call(s.tokens.carol, 'POST', `/api/v1/deletion-requests/${dr.id}/approve`, { vmid: 190 });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('permission_denied');
    const wrong = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${dr.id}/approve`, { vmid: 191 });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({ code: 'vmid_mismatch', detail: VMID_MISMATCH });
    expect((await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${dr.id}`)).body.state).toBe('pending');
  });

  it('approval by a second authorised user destroys the guest exactly once', async () => {
    const dr = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items[0];
    const res = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${dr.id}/approve`, { vmid: 190 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ authorizer: 'bob' });
    // The answer re-reads the row, and the destroy may already have begun.
    expect(['approved', 'executing', 'succeeded']).toContain(res.body.state);
    const final = await eventually(async () => {
      const d = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${dr.id}`)).body;
      return ['succeeded', 'failed'].includes(d.state) ? d : undefined;
    }, 'the deletion to finish');
    expect(final.state, JSON.stringify(final.history, null, 1)).toBe('succeeded');
    expect(final.proxmoxUpid).toMatch(/^UPID:pve02:/);
    const executes = s.proxbox.control.callsTo('POST', /^\/intent\/deletion-requests\/\d+\/execute$/);
    expect(executes).toHaveLength(1);
    expect(executes[0]!.body).toEqual({ vmid: 190, node: 'pve02', kind: 'lxc' });
    expect(executes[0]!.headers['x-proxbox-actor']).toBe('bob');
    expect(s.proxbox.control.callsTo('POST', '/intent/deletion-requests')[0]!.body).toMatchObject({ vmid: 190, node: 'pve02', kind: 'lxc', endpoint_id: 1, requested_by: 'alice' });
    expect(s.proxbox.cluster.getGuest(190)).toBeUndefined();
    expect(s.proxbox.control.callsTo('GET', '/proxmox/api2/latest/nodes/pve02/lxc/190/status/current'), 'the snapshot check read the one guest').toHaveLength(1);
    const again = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${dr.id}/approve`, { vmid: 190 });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('invalid_state');
    expect(s.proxbox.control.callsTo('POST', /\/execute$/)).toHaveLength(1);
  });

  it('shows the run in Temporal with its search attributes', async () => {
    const j = await job(jobId);
    const desc = await s.system.temporal.workflow.getHandle(j.workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(desc.type).toBe('ApplyWorkflow');
    const sa = Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(sa).toMatchObject({ ProxboxBranch: j.branch.schemaId, ProxboxUser: 'alice', ProxboxState: 'succeeded' });
    const dr = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items[0];
    await recordHistoryIfAsked(s.system.temporal, j.workflowId, 'apply-create-update-delete');
    await recordHistoryIfAsked(s.system.temporal, dr.workflowId, 'deletion-approved-destroyed');
  });
});
