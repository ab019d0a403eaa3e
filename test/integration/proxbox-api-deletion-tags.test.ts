import { describe, expect, it } from 'vitest';
import { DeletionExecuteResponse, DeletionRecord, PENDING_DELETION_TAG, TagResponse } from '../../contracts/proxbox-api';
import type { TestProxbox } from '../../simulators/proxbox-api/test-client';
import { useProxboxSimulator } from '../support/proxbox-simulator';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let pb: TestProxbox;

useProxboxSimulator((p) => { pb = p; }, {
  seed: (c) => {
    c.addGuest({ vmid: 301, node: 'pve01', type: 'qemu', name: 'old-vm-01', cores: 1, memory: 1024, tags: 'Prod;WEB;prod', config: { scsi0: 'local-lvm:vm-301-disk-0,size=16G' } });
    c.addGuest({ vmid: 401, node: 'pve01', type: 'lxc', name: 'old-ct-01', config: { rootfs: 'local-lvm:vm-401-disk-0,size=8G' } });
  },
});

const cluster = () => pb.sim.cluster;
const target = (vmid = 301, node = 'pve01', kind = 'qemu') => ({ vmid, node, kind });
const seed = (state: 'pending' | 'approved' | 'rejected' | 'executing' | 'succeeded' | 'failed', t = target(), endpoint_id = 1) =>
  cluster().seedDeletionRecord({ endpoint_id, ...t, kind: t.kind as 'qemu' | 'lxc', state });
const call = (id: number, verb: 'approve' | 'reject' | 'execute', body: unknown, actor?: string) =>
  pb.request('POST', `/intent/deletion-requests/${id}/${verb}`, { body, headers: actor ? { 'X-Proxbox-Actor': actor } : {} });
const destroys = () => cluster().pveCalls('DELETE');
const lastJournal = () => cluster().journal.entries.at(-1)!;

describe('deletion requests (proxbox-api.md §6, scenarios 31–35)', () => {
  it('31: approve with a matching body sets approved and journals the actor', async () => {
    const rec = seed('pending');
    const r = await call(rec.id, 'approve', target(), 'alice@netbox');
    expect(r.status).toBe(200);
    expect(DeletionRecord.strict().parse(r.body)).toEqual(r.body);
    expect(r.body).toMatchObject({ id: rec.id, endpoint_id: 1, vmid: 301, node: 'pve01', kind: 'qemu', state: 'approved', created_at: rec.created_at });
    expect(r.body.updated_at).toBeGreaterThanOrEqual(rec.created_at);
    expect(lastJournal().comments).toContain('verb: deletion_request_approve');
    expect(lastJournal().comments).toContain('actor: alice@netbox');
    expect(lastJournal().assigned_object_id).toBe(301);
    expect(destroys()).toEqual([]);
  });

  it('32: reject sets rejected and journals the reason', async () => {
    const rec = seed('approved');
    const r = await call(rec.id, 'reject', { reason: 'operator canceled' });
    expect(r).toMatchObject({ status: 200, body: { state: 'rejected' } });
    expect(lastJournal().comments).toContain('reason: operator canceled');
    expect(lastJournal().comments).toContain('actor: proxbox-api');
  });

  it('33: execute of approved qemu 301 destroys it once with purge=1', async () => {
    const rec = seed('approved');
    const r = await call(rec.id, 'execute', target(), 'bob');
    expect(r.status).toBe(200);
    expect(DeletionExecuteResponse.parse(r.body)).toEqual(r.body);
    expect(r.body.upid).toMatch(/^UPID:pve01:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmdestroy:301:proxbox@pve!api:$/);
    expect(r.body.run_uuid).toMatch(UUID4);
    expect(destroys()).toEqual([expect.objectContaining({ path: 'nodes/pve01/qemu/301', params: { purge: 1 } })]);
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('succeeded');
    expect(cluster().getGuest(301)).toBeUndefined();
    expect(lastJournal().comments).toContain('verb: deletion_request_execute');
    expect(lastJournal().comments).toContain(`proxmox_task_upid: ${r.body.upid}`);
  });

  it('34: execute of approved lxc 401 destroys nodes/pve01/lxc/401 and journals target_kind lxc', async () => {
    const rec = seed('approved', target(401, 'pve01', 'lxc'));
    const r = await call(rec.id, 'execute', target(401, 'pve01', 'lxc'));
    expect(r.status).toBe(200);
    expect(r.body.run_uuid).toMatch(UUID4);
    expect(destroys()).toEqual([expect.objectContaining({ path: 'nodes/pve01/lxc/401', params: { purge: 1 } })]);
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('succeeded');
    expect(lastJournal().comments).toContain('target_kind: lxc');
  });

  it('35: execute on a write-disabled endpoint is the raw gate 403, state stays approved, a blocked entry is journalled', async () => {
    const rec = seed('approved');
    cluster().updateEndpoint(1, { allow_writes: false });
    const r = await call(rec.id, 'execute', target());
    expect(r.status).toBe(403);
    expect(r.body).toEqual({
      reason: 'endpoint_writes_disabled',
      detail: 'Operational verbs are disabled on this endpoint. Enable ProxmoxEndpoint.allow_writes on the NetBox side after granting core.run_proxmox_action to the operator group.',
      endpoint_id: 1,
    });
    expect(cluster().pveLog).toEqual([]);
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('approved');
    expect(lastJournal()).toMatchObject({ kind: 'warning', assigned_object_id: 301 });
    expect(lastJournal().comments).toContain('result: blocked');
  });

  it('the gate runs against the record endpoint for approve and reject too', async () => {
    const gone = seed('pending', target(), 9);
    const approve = await call(gone.id, 'approve', target());
    expect(approve).toMatchObject({ status: 403, body: { reason: 'endpoint_not_found', detail: 'No ProxmoxEndpoint with id=9.' } });
    expect((await call(gone.id, 'reject', { reason: 'x' })).body.reason).toBe('endpoint_not_found');
    expect(cluster().getDeletionRecord(gone.id)!.state).toBe('pending');
  });

  it('checks 404, then the gate, then the target, then the state', async () => {
    expect(await call(77, 'approve', target())).toMatchObject({ status: 404, body: { detail: 'No deletion request with id=77.' } });
    const rec = seed('rejected');
    expect((await call(rec.id, 'approve', target(302))).body).toEqual({ detail: 'vmid mismatch: request has 301, body has 302' });
    expect((await call(rec.id, 'approve', target(301, 'pve02'))).body).toEqual({ detail: "node mismatch: request has 'pve01', body has 'pve02'" });
    expect((await call(rec.id, 'execute', target(301, 'pve01', 'lxc'))).body).toEqual({ detail: "kind mismatch: request has 'qemu', body has 'lxc'" });
    expect(await call(rec.id, 'approve', target())).toMatchObject({ status: 409, body: { detail: 'Deletion request is rejected; only pending requests can be approved.' } });
    expect(await call(rec.id, 'execute', target())).toMatchObject({ status: 409, body: { detail: 'Deletion request is rejected; execute requires approved.' } });
    cluster().updateEndpoint(1, { allow_writes: false });
    expect((await call(rec.id, 'approve', target(302))).status).toBe(403);
  });

  it('allows re-approval and rejection from failed, but nothing from executing or succeeded', async () => {
    const approved = seed('approved');
    expect((await call(approved.id, 'approve', target())).body.state).toBe('approved');
    expect((await call(seed('failed').id, 'reject', { reason: 'give up' })).body.state).toBe('rejected');
    expect((await call(seed('failed').id, 'approve', target())).status).toBe(409);
    for (const state of ['executing', 'succeeded'] as const) {
      const rec = seed(state);
      expect((await call(rec.id, 'approve', target())).status).toBe(409);
      expect(await call(rec.id, 'reject', { reason: 'x' })).toMatchObject({ status: 409, body: { detail: `Deletion request is ${state}; it can no longer be rejected.` } });
      expect((await call(rec.id, 'execute', target())).status).toBe(409);
    }
  });

  it('refuses to destroy a running guest: 502 and state failed, no stop', async () => {
    cluster().setGuestStatus(301, 'running');
    const rec = seed('approved');
    const r = await call(rec.id, 'execute', target());
    expect(r.status).toBe(502);
    expect(r.body).toEqual({ detail: '500 Internal Server Error: VM 301 is running - destroy failed' });
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('failed');
    expect(cluster().getGuest(301)!.status).toBe('running');
    expect(cluster().pveWrites().map((w) => `${w.method} ${w.path}`)).toEqual(['DELETE nodes/pve01/qemu/301']);
  });

  it('a journal failure after the destroy sets failed and answers 5xx while the guest is gone', async () => {
    const rec = seed('approved');
    cluster().failJournalWrites(1);
    const r = await call(rec.id, 'execute', target());
    expect(r.status).toBe(502);
    expect(r.body.message).toBe('Failed to write verb audit journal entry');
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('failed');
    expect(cluster().getGuest(301)).toBeUndefined();
  });

  it('validates bodies with E1', async () => {
    const rec = seed('pending');
    const r = await call(rec.id, 'approve', { vmid: 301, kind: 'virtualmachine' });
    expect(r.status).toBe(422);
    expect(r.body.detail.map((e: { type: string; loc: unknown[] }) => [e.type, e.loc])).toEqual([['missing', ['body', 'node']], ['literal_error', ['body', 'kind']]]);
    expect((await call(rec.id, 'reject', {})).body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'reason'] });
    expect(cluster().getDeletionRecord(rec.id)!.state).toBe('pending');
  });

  it('38: a rejection reason is scrubbed before it reaches the journal', async () => {
    const rec = seed('pending');
    await call(rec.id, 'reject', { reason: 'rotate token=abc123 first' });
    expect(lastJournal().comments).toContain('reason: rotate token=*** first');
    expect(lastJournal().comments).not.toContain('abc123');
  });
});

describe('destroy confinement (scenarios 39–40)', () => {
  it('39: only execute on an approved record removes a guest', async () => {
    await pb.request('POST', '/intent/plan', { body: { endpoint_id: 1, diffs: [{ op: 'delete', kind: 'virtualmachine', netbox_id: 1 }] } });
    await pb.request('POST', '/intent/apply?endpoint_id=1', { body: { run_uuid: 'r', diffs: [{ op: 'delete', kind: 'qemu', payload: { vmid: 301, node: 'pve01' } }] } });
    const body = { vmid: 301, node: 'pve01', kind: 'qemu', tag: PENDING_DELETION_TAG };
    await pb.request('PUT', '/intent/tag-pending-deletion?endpoint_id=1', { body });
    await pb.request('PUT', '/intent/untag-pending-deletion?endpoint_id=1', { body });
    const rec = seed('pending');
    await call(rec.id, 'approve', target());
    expect(destroys()).toEqual([]);
    expect(cluster().getGuest(301)).toBeDefined();
    await call(rec.id, 'execute', target());
    expect(destroys()).toHaveLength(1);
    expect(cluster().getGuest(301)).toBeUndefined();
  });

  it('40: apply delete diffs and tag operations never remove a guest or a disk', async () => {
    const before = cluster().getGuest(401)!.config;
    await pb.request('POST', '/intent/apply?endpoint_id=1', { body: { run_uuid: 'r', diffs: [{ op: 'delete', kind: 'lxc', payload: { vmid: 401, node: 'pve01' } }] } });
    const body = { vmid: 401, node: 'pve01', kind: 'lxc', tag: PENDING_DELETION_TAG };
    await pb.request('PUT', '/intent/tag-pending-deletion', { body });
    await pb.request('PUT', '/intent/untag-pending-deletion', { body });
    expect(cluster().pveWrites().map((w) => `${w.method} ${w.path} ${JSON.stringify(w.params)}`)).toEqual([
      `PUT nodes/pve01/lxc/401/config {"tags":"${PENDING_DELETION_TAG}"}`,
      'PUT nodes/pve01/lxc/401/config {"tags":""}',
    ]);
    const after = cluster().getGuest(401)!.config;
    expect(after.rootfs).toBe(before.rootfs);
    expect(Object.keys(after).filter((k) => /^(rootfs|mp\d+|unused\d+)$/.test(k))).toEqual(['rootfs']);
  });
});

describe('pending-deletion tags (proxbox-api.md §7, scenarios 46–47)', () => {
  const tag = (body: unknown, query = '?endpoint_id=1', verb = 'tag') =>
    pb.request('PUT', `/intent/${verb}-pending-deletion${query}`, { body, headers: { 'X-Proxbox-Actor': 'alice' } });
  const body = { vmid: 301, node: 'pve01', kind: 'qemu', tag: PENDING_DELETION_TAG };

  it('46: tagging twice writes once; tags_after is lowercase and unchanged', async () => {
    const first = await tag(body);
    expect(first.status).toBe(200);
    expect(TagResponse.parse(first.body)).toEqual(first.body);
    expect(first.body).toEqual({ ok: true, vmid: 301, node: 'pve01', kind: 'qemu', tag: PENDING_DELETION_TAG, tags_after: ['prod', 'web', PENDING_DELETION_TAG] });
    const second = await tag(body);
    expect(second.body.tags_after).toEqual(first.body.tags_after);
    expect(cluster().pveCalls('PUT').map((p) => p.params)).toEqual([{ tags: `prod;web;${PENDING_DELETION_TAG}` }]);
    expect(cluster().journal.entries).toEqual([]);
  });

  it('untag removes the tag once and is idempotent', async () => {
    await tag(body);
    const removed = await tag(body, '?endpoint_id=1', 'untag');
    expect(removed.body.tags_after).toEqual(['prod', 'web']);
    const again = await tag(body, '?endpoint_id=1', 'untag');
    expect(again.body.tags_after).toEqual(['prod', 'web']);
    expect(cluster().pveCalls('PUT').map((p) => p.params.tags)).toEqual([`prod;web;${PENDING_DELETION_TAG}`, 'prod;web']);
  });

  it('untag of an absent tag makes no PUT, even when the stored tags are not normalised', async () => {
    const r = await tag(body, '?endpoint_id=1', 'untag');
    expect(r.body.tags_after).toEqual(['prod', 'web']);
    expect(cluster().pveCalls('PUT')).toEqual([]);
  });

  it('47: without endpoint_id and two writable endpoints the answer is 422 ambiguous_endpoint', async () => {
    cluster().addEndpoint({ id: 3, name: 'dr', allow_writes: true, enabled: false });
    const r = await tag(body, '');
    expect(r.status).toBe(422);
    expect(r.body).toEqual({
      reason: 'ambiguous_endpoint',
      detail: 'Multiple write-enabled ProxmoxEndpoints found. Pass endpoint_id as a query parameter to target a specific cluster.',
      endpoint_ids: [1, 3],
    });
    expect(cluster().pveLog).toEqual([]);
  });

  it('without endpoint_id uses the single writable endpoint, ignoring enabled', async () => {
    cluster().updateEndpoint(1, { enabled: false });
    expect((await tag(body, '')).status).toBe(200);
  });

  it('without any writable endpoint answers 403 no_write_enabled_endpoint; with endpoint_id the gate answers', async () => {
    cluster().updateEndpoint(1, { allow_writes: false });
    expect(await tag(body, '')).toMatchObject({
      status: 403,
      body: { reason: 'no_write_enabled_endpoint', detail: 'No ProxmoxEndpoint with allow_writes=True exists. Enable allow_writes on the target endpoint in NetBox.' },
    });
    expect(await tag(body)).toMatchObject({ status: 403, body: { reason: 'endpoint_writes_disabled', endpoint_id: 1 } });
    expect(await tag(body, '?endpoint_id=5')).toMatchObject({ status: 403, body: { reason: 'endpoint_not_found', detail: 'No ProxmoxEndpoint with id=5.' } });
  });

  it('a missing guest or a wrong node is a 502 with the raw Proxmox text', async () => {
    const missing = await tag({ ...body, vmid: 999 });
    expect(missing).toMatchObject({ status: 502, body: { detail: "Proxmox API call failed: 500 Internal Server Error: Configuration file 'nodes/pve01/qemu-server/999.conf' does not exist" } });
    expect((await tag({ ...body, node: 'pve02' })).status).toBe(502);
  });

  it('compares the tag as sent against the lowercased list and stores lowercase', async () => {
    const r = await tag({ ...body, tag: 'Keep-Me' });
    expect(r.body.tags_after).toEqual(['prod', 'web', 'keep-me']);
    await tag({ ...body, tag: 'Keep-Me' });
    expect(cluster().pveCalls('PUT')).toHaveLength(2);
  });

  it('an apply tags update replaces every tag, including the pending-deletion tag', async () => {
    await tag(body);
    await pb.request('POST', '/intent/apply?endpoint_id=1', { body: { run_uuid: 'r', diffs: [{ op: 'update', kind: 'qemu', payload: { vmid: 301, node: 'pve01', tags: ['prod'] } }] } });
    expect(cluster().getGuest(301)!.config.tags).toBe('prod');
  });
});
