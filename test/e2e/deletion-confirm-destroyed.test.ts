import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type Stack } from '../support/stack';
import { getRequest, requestDeletion, settled, type GuestSpec, type RequestView } from '../support/deletion-requests';

const CONFIRM_ROUTE = (id: number) => `/api/v1/deletion-requests/${id}/confirm-destroyed`;
/** Everything a refused confirmation must leave as it was (history gains the refused attempt, nothing else moves). */
const SETTLED_FIELDS = ['state', 'reason', 'reasonCode', 'authorizer', 'confirmedBy', 'decidedAt', 'executedAt', 'finishedAt', 'taggedPendingDeletion'] as const;
const fieldsOf = (r: RequestView) => Object.fromEntries(SETTLED_FIELDS.map((k) => [k, r[k]]));

/**
 * proxbox-api as it is today, without POST /intent/deletion-requests (proxbox-api.md §10 a): an approved request
 * fails `backend_cannot_register_deletion`, an operator destroys the guest by hand, and a second authorizer confirms
 * it; the service believes the cluster, never the confirmer.
 */
describe('confirming a guest destroyed by hand', () => {
  let s: Stack;
  let dave: string;
  beforeAll(async () => {
    s = await startStack({ capabilities: { registerDeletion: false, taskStatus: true } });
    expect((await s.call(s.tokens.admin, 'POST', '/api/v1/users', { username: 'dave', permissions: ['view', 'authorize_deletion_request'] })).status).toBe(201);
    dave = (await s.call(s.tokens.admin, 'POST', '/api/v1/users/dave/tokens', {})).body.token;
  });
  afterAll(async () => { await s?.stop(); });

  const confirm = (token: string, r: RequestView, vmid = r.vmid) => s.call(token, 'POST', CONFIRM_ROUTE(r.id), { vmid });

  /** A request by alice, approved by bob, failed by the execution, its workflow finished (untag included). */
  async function failedRequest(guest: GuestSpec, code = 'backend_cannot_register_deletion'): Promise<RequestView> {
    const { request } = await requestDeletion(s, guest);
    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: guest.vmid })).status).toBe(200);
    const failed = await settled(s, request.id);
    expect(failed, JSON.stringify(failed.history, null, 1)).toMatchObject({ state: 'failed', reasonCode: code, authorizer: 'bob' });
    expect(failed.reason).toContain(`POST ${CONFIRM_ROUTE(request.id)} {"vmid": ${guest.vmid}}`);
    await s.system.temporal.workflow.getHandle(request.workflowId).result();
    return getRequest(s, request.id);
  }

  it('refuses while the guest exists, to the requester, without the permission, with a wrong VMID or an unreadable cluster; then a second authorizer closes it', async () => {
    const failed = await failedRequest({ vmid: 951, name: 'confirm-951', node: 'pve01', kind: 'qemu' });
    expect(failed.reason).toMatch(/^proxbox-api does not offer POST \/intent\/deletion-requests; .* Destroy it manually \(then confirm here\) or upgrade proxbox-api\. Once the guest is gone, an authorizer other than the requester confirms it with POST /);

    const present = await confirm(s.tokens.bob, failed);
    expect(present.status, JSON.stringify(present.body)).toBe(409);
    expect(present.body).toMatchObject({
      code: 'guest_still_present',
      detail: 'The cluster still lists qemu 951 confirm-951 on node pve01; destroy qemu 951 confirm-951 in Proxmox first, then confirm again. Nothing changed.',
    });
    const afterPresent = await getRequest(s, failed.id);
    expect(fieldsOf(afterPresent)).toEqual(fieldsOf(failed));
    expect(afterPresent.history.slice(failed.history.length)).toEqual([
      { at: expect.any(String), actor: 'bob', action: 'confirm_destroyed', outcome: 'refused', detail: present.body.detail },
    ]);
    // The read went to the request's own endpoint (proxbox-api endpoint 1) and node, whatever the confirmer sent.
    const onNode = s.proxbox.control.callsTo('GET', '/proxmox/api2/latest/nodes/pve01/qemu/951/status/current');
    expect(onNode.length).toBeGreaterThan(0);

    // The operator destroys the guest by hand.
    s.proxbox.cluster.removeGuest(951);

    const self = await confirm(s.tokens.alice, failed);
    expect(self.status).toBe(403);
    expect(self.body).toMatchObject({ code: 'self_approval_blocked', detail: 'Self-approval blocked: a different authorized user must approve this request.' });
    const unauthorised = await confirm(s.tokens.carol, failed);
    expect(unauthorised.status).toBe(403);
    expect(unauthorised.body.code).toBe('permission_denied');
    const mistyped = await confirm(dave, failed, 915);
    expect(mistyped.status).toBe(422);
    expect(mistyped.body).toMatchObject({ code: 'vmid_mismatch', detail: 'Typed VMID does not match this deletion request.' });

    // Fail closed: a cluster listing that fails does not prove the guest gone.
    s.proxbox.control.addFault({ method: 'GET', path: '^/proxmox/cluster/resources$', mode: 'fail', status: 502, body: { detail: 'Error fetching Proxmox cluster resources' }, times: 1 });
    const unreadable = await confirm(dave, failed);
    expect(unreadable.status, JSON.stringify(unreadable.body)).toBe(503);
    expect(unreadable.body.code).toBe('cluster_unreadable');
    expect(unreadable.body.detail).toMatch(/^Could not establish that qemu 951 confirm-951 is gone: proxbox-api failed on GET \/proxmox\/cluster\/resources \(502\).*\. Nothing changed; confirm again once proxbox-api and the cluster answer\.$/);

    const refusedSoFar = await getRequest(s, failed.id);
    expect(fieldsOf(refusedSoFar)).toEqual(fieldsOf(failed));
    const refusals = refusedSoFar.history.slice(failed.history.length);
    expect(refusals.every((h: any) => h.action === 'confirm_destroyed' && h.outcome === 'refused')).toBe(true);
    // Refusals are recorded as for approvals: once per actor and minute (dave's second refusal is inside his minute).
    expect(refusals.map((h: any) => h.actor)).toEqual(['bob', 'alice', 'carol', 'dave']);

    const before = Date.now();
    const done = await confirm(dave, failed);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({
      id: failed.id, state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: 'dave', authorizer: 'bob', taggedPendingDeletion: false,
    });
    expect(Date.parse(done.body.finishedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(done.body.reason).toBe(`qemu 951 confirm-951 was destroyed by hand: dave confirmed it at ${done.body.finishedAt}, and the cluster no longer lists VMID 951.`);
    expect(done.body.history.at(-1)).toEqual({
      at: done.body.finishedAt, actor: 'dave', action: 'confirm_destroyed', outcome: 'ok',
      detail: 'proxbox-api no longer lists VMID 951 on the cluster that holds node pve01 (read on the node, then the cluster listing); destroyed by hand, confirmed by dave.',
    });
    expect(await getRequest(s, failed.id)).toMatchObject({ state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: 'dave' });
    // The guest listing, then the nodes of the same cluster (it must still be the request's cluster).
    const listings = s.proxbox.control.callsTo('GET', '/proxmox/cluster/resources').slice(-2).map((c) => c.query);
    expect(listings).toEqual([{ type: 'vm', endpoint_ids: '1' }, { type: 'node', endpoint_ids: '1' }]);

    const audit = await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?action=deletion_request');
    expect(audit.body.items).toEqual([expect.objectContaining({
      actor: 'dave', action: 'deletion_request.confirm_destroyed', target: `deletion_request:${failed.id}`,
      changes: expect.objectContaining({
        state: { from: 'failed', to: 'succeeded' }, reasonCode: { from: 'backend_cannot_register_deletion', to: 'manually_destroyed' },
        confirmedBy: { from: null, to: 'dave' }, guest: 'qemu 951 confirm-951 on pve01',
      }),
    })]);

    // NetBox learns it too: one journal entry on the branch (the VM is gone from NetBox since the merge).
    const destroyedEntries = await eventually(async () => {
      const found = [...s.netbox.journal.values()].filter((e) => e.comments.includes('Destroyed by hand'));
      return found.length ? found : undefined;
    }, 'the journal entry of the manual destroy');
    expect(destroyedEntries).toEqual([expect.objectContaining({
      objectType: 'netbox_branching.branch', comments: expect.stringContaining(`Destroyed by hand, confirmed in proxbox-intent by dave: ${done.body.reason}`),
    })]);

    const again = await confirm(s.tokens.bob, failed);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'invalid_state', detail: expect.stringContaining('Deletion request is succeeded (manually_destroyed)') });
    expect((await getRequest(s, failed.id)).confirmedBy).toBe('dave');
  });

  it('refuses a pending request (409 invalid_state) and leaves it pending', async () => {
    const { request } = await requestDeletion(s, { vmid: 952, name: 'confirm-952', node: 'pve02', kind: 'lxc' });
    const res = await confirm(s.tokens.bob, request);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      code: 'invalid_state',
      detail: 'Deletion request is pending; only a request that failed with backend_cannot_register_deletion or unknown_outcome can be confirmed destroyed.',
    });
    const now = await getRequest(s, request.id);
    expect(now.state).toBe('pending');
    expect(now.history.at(-1)).toMatchObject({ actor: 'bob', action: 'confirm_destroyed', outcome: 'refused' });
    // Nothing was read from the cluster for a request in the wrong state.
    expect(s.proxbox.control.callsTo('GET', '/proxmox/api2/latest/nodes/pve02/lxc/952/status/current')).toHaveLength(0);
  });

  it('closes a request whose destroy outcome was unknown once the cluster no longer lists the guest', async () => {
    s.proxbox.capabilities.registerDeletion = true;
    try {
      // The destroy happens, its answer is lost: an unknown outcome.
      s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/execute$', mode: 'fail', phase: 'after', status: 502, body: { detail: 'journal write failed' }, times: 1 });
      const failed = await failedRequest({ vmid: 953, name: 'confirm-953', node: 'pve02', kind: 'qemu' }, 'unknown_outcome');
      expect(s.proxbox.cluster.getGuest(953)).toBeUndefined();
      const res = await confirm(dave, failed);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: 'dave', authorizer: 'bob' });
    } finally {
      s.proxbox.capabilities.registerDeletion = false;
    }
  });

  it('reads through the request\'s own endpoint: pointed at another cluster since, it proves nothing (409 endpoint_changed)', async () => {
    const failed = await failedRequest({ vmid: 955, name: 'confirm-955', node: 'pve02', kind: 'qemu' });
    s.proxbox.cluster.removeGuest(955);
    s.proxbox.cluster.addEndpoint({ id: 2, name: 'elsewhere', cluster: 'other-cluster', enabled: true });
    s.proxbox.cluster.addNode({ endpointId: 2, name: 'oth01' });
    const lab = (await s.call(s.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items.find((e: any) => e.name === 'lab');
    expect((await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${lab.id}`, { backendEndpointId: 2 })).status).toBe(200);
    try {
      const res = await confirm(dave, failed);
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body).toMatchObject({
        code: 'endpoint_changed',
        detail: 'The cluster behind endpoint lab has no node pve02, where qemu 955 confirm-955 was: the endpoint no longer reaches the request\'s cluster, so VMID 955 missing there proves nothing. Nothing changed.',
      });
      expect(fieldsOf(await getRequest(s, failed.id))).toEqual(fieldsOf(failed));
    } finally {
      expect((await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${lab.id}`, { backendEndpointId: 1 })).status).toBe(200);
    }
    expect((await confirm(dave, failed)).body).toMatchObject({ state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: 'dave' });
  });

  it('two confirmations at once: exactly one wins, one history entry and one audit row', async () => {
    const failed = await failedRequest({ vmid: 954, name: 'confirm-954', node: 'pve01', kind: 'lxc' });
    s.proxbox.cluster.removeGuest(954);
    // Both are inside the cluster read together, so both pass every check before either writes.
    s.proxbox.control.addFault({ method: 'GET', path: '^/proxmox/cluster/resources$', mode: 'slow', delayMs: 1_000, times: 2 });
    const answers = await Promise.all([confirm(s.tokens.bob, failed), confirm(dave, failed)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const loser = answers.find((a) => a.status === 409)!;
    expect(loser.body).toMatchObject({ code: 'invalid_state', detail: expect.stringContaining('Deletion request is succeeded (manually_destroyed)') });
    const winner = answers.find((a) => a.status === 200)!.body;
    const now = await getRequest(s, failed.id);
    expect(now).toMatchObject({ state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: winner.confirmedBy });
    expect(now.history.filter((h: any) => h.action === 'confirm_destroyed' && h.outcome === 'ok')).toHaveLength(1);
    const audit = await s.call(s.tokens.admin, 'GET', '/api/v1/audit-log?action=deletion_request.confirm_destroyed');
    expect(audit.body.items.filter((a: any) => a.target === `deletion_request:${failed.id}`)).toHaveLength(1);
  });
});
