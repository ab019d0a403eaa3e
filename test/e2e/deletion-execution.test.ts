import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIRMATION_PHRASE } from '../../domain/settings';
import { startStack, eventually, type Stack } from '../support/stack';
import {
  BACKEND_APPROVE, EXECUTE, REGISTER, UNTAG, callsFor, getRequest, requestDeletion, settled, type GuestSpec, type RequestView,
} from '../support/deletion-requests';
import { recordHistoryIfAsked } from '../support/histories';

/**
 * Execution after approval: every way it can be refused or fail ends the request `failed` with the reason, calls the
 * destroy at most once, never retries it, and removes the pending-deletion tag.
 */
describe('executing an approved deletion', () => {
  let s: Stack;
  let labEndpointId: number;
  beforeAll(async () => {
    s = await startStack();
    labEndpointId = (await s.call(s.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items.find((e: any) => e.name === 'lab').id;
  });
  afterAll(async () => { await s?.stop(); });

  const approve = (r: RequestView) => s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${r.id}/approve`, { vmid: r.vmid });

  /** Requests, approves and waits for the end; `between` runs after the approval while proxbox-api is held up. */
  async function approveAndFinish(guest: GuestSpec, between?: () => Promise<void>): Promise<RequestView> {
    const { request } = await requestDeletion(s, guest);
    if (between) s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests$', mode: 'slow', delayMs: 1_500, times: 1 });
    const res = await approve(request);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    if (between) {
      await eventually(async () => (callsFor(s, 'POST', REGISTER, guest.vmid).length === 1 ? true : undefined), 'the held-up registration');
      await between();
    }
    return settled(s, request.id);
  }

  /** The common end of every failure: reason stored, no destroy, the tag removed where the guest is. */
  async function expectFailedAndUntagged(r: RequestView, code: string) {
    expect(r.state, JSON.stringify(r.history, null, 1)).toBe('failed');
    expect(r.reasonCode).toBe(code);
    expect(r.finishedAt).not.toBeNull();
    expect(r.history.at(-1)).toMatchObject({ action: expect.stringMatching(/^(untag_pending_deletion|failed)$/) });
    expect(r.history.find((h: any) => h.action === 'failed')).toMatchObject({ outcome: 'error', detail: r.reason });
    const untagged = await eventually(async () => {
      const now = await getRequest(s, r.id);
      return now.history.some((h: any) => h.action === 'untag_pending_deletion') ? now : undefined;
    }, 'the untag');
    expect(untagged.history.find((h: any) => h.action === 'untag_pending_deletion')).toMatchObject({ outcome: 'ok' });
    expect(untagged.taggedPendingDeletion).toBe(false);
    const guest = s.proxbox.cluster.getGuest(r.vmid);
    if (guest) expect(String(guest.config.tags ?? '')).not.toContain('proxbox-pending-deletion');
  }

  it('master flag switched off between approval and execution: failed with the seed sentence, no destroy, backend record withdrawn', async () => {
    const r = await approveAndFinish({ vmid: 701, name: 'exec-701', node: 'pve01', kind: 'qemu' }, async () => {
      expect((await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { netboxToProxmoxEnabled: false })).status).toBe(200);
    });
    try {
      expect(r.reason).toBe('Intent master flag is disabled');
      await expectFailedAndUntagged(r, 'master_flag_disabled');
      expect(callsFor(s, 'POST', EXECUTE, 701)).toHaveLength(0);
      expect(s.proxbox.cluster.getGuest(701)).toBeTruthy();
      expect(callsFor(s, 'POST', BACKEND_APPROVE, 701)).toHaveLength(1);
      const withdrawn = s.proxbox.control.callsTo('POST', /^\/intent\/deletion-requests\/\d+\/reject$/);
      expect(withdrawn).toHaveLength(1);
      expect(withdrawn[0]!.body).toEqual({ reason: 'Intent master flag is disabled' });
      const recordId = Number(/\/(\d+)\/reject$/.exec(withdrawn[0]!.path)![1]);
      expect(s.proxbox.cluster.getDeletionRecord(recordId)).toMatchObject({ vmid: 701, state: 'rejected' });
      expect(await s.system.temporal.workflow.getHandle(r.workflowId).result()).toMatchObject({ state: 'failed', reasonCode: 'master_flag_disabled' });
      await recordHistoryIfAsked(s.system.temporal, r.workflowId, 'deletion-failed-untagged');
    } finally {
      await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE });
    }
  });

  it('allow_writes switched off between approval and execution: failed with writes_disabled_for_endpoint, no destroy', async () => {
    const r = await approveAndFinish({ vmid: 702, name: 'exec-702', node: 'pve02', kind: 'lxc' }, async () => {
      expect((await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites: false })).status).toBe(200);
    });
    try {
      expect(r.reason).toBe('writes_disabled_for_endpoint');
      await expectFailedAndUntagged(r, 'writes_disabled_for_endpoint');
      expect(callsFor(s, 'POST', EXECUTE, 702)).toHaveLength(0);
      expect(s.proxbox.cluster.getGuest(702)).toBeTruthy();
    } finally {
      await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites: true });
    }
  });

  it('allow_writes already off when the approval lands: failed before any proxbox-api deletion call', async () => {
    const { request } = await requestDeletion(s, { vmid: 703, name: 'exec-703', node: 'pve01', kind: 'qemu' });
    await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites: false });
    try {
      expect((await approve(request)).status).toBe(200);
      const r = await settled(s, request.id);
      await expectFailedAndUntagged(r, 'writes_disabled_for_endpoint');
      expect(callsFor(s, 'POST', REGISTER, 703)).toHaveLength(0);
    } finally {
      await s.call(s.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${labEndpointId}`, { allowWrites: true });
    }
  });

  it('the approver lost authorize_deletion_request before the destroy: failed, no destroy', async () => {
    const r = await approveAndFinish({ vmid: 704, name: 'exec-704', node: 'pve02', kind: 'qemu' }, async () => {
      expect((await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/bob', { permissions: ['view'] })).status).toBe(200);
    });
    try {
      expect(r.reason).toBe('permission denied: bob no longer holds authorize_deletion_request; nothing was destroyed.');
      await expectFailedAndUntagged(r, 'permission_denied');
      expect(callsFor(s, 'POST', EXECUTE, 704)).toHaveLength(0);
    } finally {
      await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/bob', { permissions: ['view', 'authorize_deletion_request'] });
    }
  });

  it('a guest that moved to another node is not destroyed, and is untagged where it now is', async () => {
    const { request } = await requestDeletion(s, { vmid: 705, name: 'exec-705', node: 'pve02', kind: 'lxc' });
    s.proxbox.cluster.moveGuest(705, 'pve01');
    expect((await approve(request)).status).toBe(200);
    const r = await settled(s, request.id);
    expect(r.reason).toBe('Guest lxc 705 exec-705 no longer matches the deletion request: it is on node pve01, not pve02. Refusing to destroy it; nothing was destroyed.');
    await expectFailedAndUntagged(r, 'guest_changed');
    expect(callsFor(s, 'POST', REGISTER, 705)).toHaveLength(0);
    expect(callsFor(s, 'PUT', UNTAG, 705).map((c) => (c.body as any).node)).toEqual(['pve01']);
    expect(s.proxbox.cluster.getGuest(705)).toMatchObject({ node: 'pve01' });
  });

  it('a backend without POST /intent/deletion-requests: failed with backend_cannot_register_deletion, once, no approve or execute', async () => {
    const { request } = await requestDeletion(s, { vmid: 706, name: 'exec-706', node: 'pve01', kind: 'qemu' });
    s.proxbox.capabilities.registerDeletion = false;
    try {
      const openapiBefore = s.proxbox.control.callsTo('GET', '/openapi.json').length;
      expect((await approve(request)).status).toBe(200);
      const r = await settled(s, request.id);
      expect(r.reason).toBe('proxbox-api does not offer POST /intent/deletion-requests; the approved deletion of qemu 706 on pve01 cannot be executed through it. Destroy it manually (then confirm here) or upgrade proxbox-api. '
        + `Once the guest is gone, an authorizer other than the requester confirms it with POST /api/v1/deletion-requests/${r.id}/confirm-destroyed {"vmid": 706}.`);
      await expectFailedAndUntagged(r, 'backend_cannot_register_deletion');
      expect(s.proxbox.control.callsTo('GET', '/openapi.json').length, 'capabilities re-read before the destroy').toBeGreaterThan(openapiBefore);
      expect(callsFor(s, 'POST', REGISTER, 706)).toHaveLength(0);
      expect(callsFor(s, 'POST', BACKEND_APPROVE, 706)).toHaveLength(0);
      expect(callsFor(s, 'POST', EXECUTE, 706)).toHaveLength(0);
      const handle = s.system.temporal.workflow.getHandle(r.workflowId);
      expect(await handle.result()).toMatchObject({ state: 'failed', reasonCode: 'backend_cannot_register_deletion' });
      const attempts = ((await handle.fetchHistory()).events ?? []).filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(attempts.every((a) => a === 1), 'no activity was retried').toBe(true);
    } finally {
      s.proxbox.capabilities.registerDeletion = true;
    }
  });

  it('proxbox-api answers 404 on execute: failed, exactly one execute call', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/execute$', mode: 'fail', status: 404, body: { detail: 'No deletion request with id=999.' }, times: 1 });
    const r = await approveAndFinish({ vmid: 707, name: 'exec-707', node: 'pve02', kind: 'qemu' });
    expect(r.reason).toContain('answered 404: No deletion request with id=999.');
    expect(r.reason).toContain('nothing was destroyed and nothing is retried');
    await expectFailedAndUntagged(r, 'backend_record_not_found');
    expect(callsFor(s, 'POST', EXECUTE, 707)).toHaveLength(1);
    expect(s.proxbox.cluster.getGuest(707)).toBeTruthy();
  });

  it('proxbox-api answers 500 on execute before destroying: failed as an unknown outcome, exactly one execute call', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/execute$', mode: 'fail', status: 500, body: { detail: 'Internal Server Error' }, times: 1 });
    const r = await approveAndFinish({ vmid: 708, name: 'exec-708', node: 'pve01', kind: 'lxc' });
    expect(r.reason).toMatch(/^proxbox-api failed on POST \/intent\/deletion-requests\/\d+\/execute \(500\): .*\. The outcome is unknown \(the guest is still listed \d+ s later\): check lxc 708 in Proxmox before doing anything else; the destroy is not retried\. Once the guest is gone, an authorizer other than the requester confirms it with POST \/api\/v1\/deletion-requests\/\d+\/confirm-destroyed \{"vmid": 708\}\.$/);
    await expectFailedAndUntagged(r, 'unknown_outcome');
    expect(callsFor(s, 'POST', EXECUTE, 708)).toHaveLength(1);
    expect(s.proxbox.cluster.getGuest(708)).toBeTruthy();
  });

  it('proxbox-api answers 502 after the destroy happened: failed as an unknown outcome that says the guest is gone', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/execute$', mode: 'fail', phase: 'after', status: 502, body: { detail: 'journal write failed' }, times: 1 });
    const r = await approveAndFinish({ vmid: 709, name: 'exec-709', node: 'pve02', kind: 'qemu' });
    expect(r.reason).toContain('The outcome is unknown (the guest is no longer listed, so the destroy most likely happened)');
    await expectFailedAndUntagged(r, 'unknown_outcome');
    expect(callsFor(s, 'POST', EXECUTE, 709)).toHaveLength(1);
    expect(s.proxbox.cluster.getGuest(709)).toBeUndefined();
  });

  it('a destroy task that fails in Proxmox: failed with the task exit status, the guest stays and is untagged', async () => {
    s.proxbox.cluster.failNextTasks("command 'lxc-destroy' failed: exit code 1");
    const r = await approveAndFinish({ vmid: 710, name: 'exec-710', node: 'pve01', kind: 'lxc' });
    expect(r.reason).toBe("The Proxmox destroy task failed: command 'lxc-destroy' failed: exit code 1");
    expect(r.proxmoxUpid).toMatch(/:vzdestroy:710:/);
    await expectFailedAndUntagged(r, 'destroy_task_failed');
    expect(callsFor(s, 'POST', EXECUTE, 710)).toHaveLength(1);
    expect(s.proxbox.cluster.getGuest(710)).toBeTruthy();
  });
});
