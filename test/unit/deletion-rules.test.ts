import { describe, expect, it } from 'vitest';
import {
  backendCannotRegisterDeletion, checkConfirmDestroyed, checkDecision, clusterUnreadable, deletionExpiresAt, executionRefusal, guestStillPresent, isManuallyConfirmable,
  manuallyDestroyedReason, nodeOutsideCluster, snapshotMismatch, type ConfirmDestroyedInput, type ExecutionCheckInput,
} from '../../domain/deletion-rules';
import { DELETION_REASON_CODES } from '../../domain/result-reasons';
import { firstClosedGate } from '../../domain/gates';
import { decisionTargetMismatch, signDecision, verifyDecision, type DeletionDecision } from '../../domain/approval-signature';
import { CONFIRMATION_PHRASE } from '../../domain/settings';

const open = { settings: { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, optedIn: true, destroyConfirmed: true,
  backendConfigured: true, endpoint: { allowWrites: true }, permissions: null, op: 'delete' as const, kind: 'qemu' as const };

describe('execution re-check (right before the destroy)', () => {
  const base: ExecutionCheckInput = {
    closedGate: null, approver: 'bob', approverTokenIssuers: ['admin'], approverPermissions: ['view', 'authorize_deletion_request'], requestedBy: 'alice', selfApproveAllowed: false,
  };
  it('lets an approval by a still-entitled second user through', () => {
    expect(executionRefusal(base)).toBeNull();
    expect(executionRefusal({ ...base, approverPermissions: ['netbox_proxbox.authorize_deletion_request'] })).toBeNull();
  });
  it('names the closed gate with the seed sentence first', () => {
    const flagOff = firstClosedGate({ ...open, settings: { netboxToProxmoxEnabled: false, typedConfirmation: null } });
    expect(executionRefusal({ ...base, closedGate: flagOff })).toEqual({ code: 'master_flag_disabled', message: 'Intent master flag is disabled' });
    const writesOff = firstClosedGate({ ...open, endpoint: { allowWrites: false } });
    expect(executionRefusal({ ...base, closedGate: writesOff, approverPermissions: [] })).toEqual({ code: 'writes_disabled_for_endpoint', message: 'writes_disabled_for_endpoint' });
    expect(executionRefusal({ ...base, closedGate: firstClosedGate({ ...open, backendConfigured: false }) })).toMatchObject({ code: 'no_backend', message: 'No FastAPIEndpoint is configured' });
  });
  it('refuses an approver who lost the permission, a self-approval once the setting is off, and a missing approver', () => {
    expect(executionRefusal({ ...base, approverPermissions: ['view'] })).toEqual({
      code: 'permission_denied', message: 'permission denied: bob no longer holds authorize_deletion_request; nothing was destroyed.',
    });
    expect(executionRefusal({ ...base, approver: 'alice' })).toMatchObject({ code: 'self_approval_blocked' });
    expect(executionRefusal({ ...base, approver: 'alice', selfApproveAllowed: true })).toBeNull();
    expect(executionRefusal({ ...base, approver: null })).toMatchObject({ code: 'not_approved' });
  });
});

describe('the guest must still match the snapshot', () => {
  const snap = { vmid: 190, node: 'pve02', kind: 'lxc' as const, name: 'old-app-02' };
  it('matches on node, kind and name', () => {
    expect(snapshotMismatch(snap, { node: 'pve02', type: 'lxc', name: 'old-app-02' })).toBeNull();
  });
  it('says what changed, every difference at once', () => {
    expect(snapshotMismatch(snap, null)).toEqual({ code: 'guest_missing', message: 'Guest lxc 190 old-app-02 no longer exists on the cluster; nothing was destroyed.' });
    expect(snapshotMismatch(snap, { node: 'pve01', type: 'lxc', name: 'old-app-02' })?.message)
      .toBe('Guest lxc 190 old-app-02 no longer matches the deletion request: it is on node pve01, not pve02. Refusing to destroy it; nothing was destroyed.');
    const all = snapshotMismatch(snap, { node: null, type: 'qemu', name: null });
    expect(all?.code).toBe('guest_changed');
    expect(all?.message).toContain('it is on node (unknown), not pve02; it is a qemu, not a lxc; it is named (no name), not old-app-02');
  });
});

describe('confirming a guest destroyed by hand', () => {
  const base: ConfirmDestroyedInput = {
    state: 'failed', reasonCode: 'backend_cannot_register_deletion', requestVmid: 301, typedVmid: 301, requestedBy: 'alice', actor: 'bob',
    actorTokenIssuers: ['admin'], actorPermissions: ['view', 'authorize_deletion_request'], selfApproveAllowed: false,
  };
  it('is open only after backend_cannot_register_deletion or unknown_outcome', () => {
    expect(checkConfirmDestroyed(base)).toBeNull();
    expect(checkConfirmDestroyed({ ...base, reasonCode: 'unknown_outcome' })).toBeNull();
    expect(isManuallyConfirmable({ state: 'failed', reasonCode: 'unknown_outcome' })).toBe(true);
    for (const [state, reasonCode] of [['failed', 'destroy_task_failed'], ['failed', 'execution_interrupted'], ['failed', null], ['pending', null],
      ['approved', null], ['executing', null], ['succeeded', 'manually_destroyed'], ['succeeded', null], ['rejected', 'rejected'], ['expired', 'expired']] as const) {
      expect(isManuallyConfirmable({ state, reasonCode }), `${state} ${reasonCode}`).toBe(false);
      expect(checkConfirmDestroyed({ ...base, state, reasonCode }), `${state} ${reasonCode}`).toMatchObject({ code: 'invalid_state' });
    }
    expect(checkConfirmDestroyed({ ...base, state: 'succeeded', reasonCode: 'manually_destroyed' })?.detail).toBe(
      'Deletion request is succeeded (manually_destroyed); only a request that failed with backend_cannot_register_deletion or unknown_outcome can be confirmed destroyed.');
  });
  it('follows the approval\'s rules in the approval\'s order: permission, state, typed VMID, four eyes', () => {
    expect(checkConfirmDestroyed({ ...base, actorPermissions: ['view'], state: 'pending', typedVmid: 1 })).toMatchObject({ code: 'permission_denied' });
    expect(checkConfirmDestroyed({ ...base, state: 'pending', typedVmid: 1, actor: 'alice' })).toMatchObject({ code: 'invalid_state' });
    expect(checkConfirmDestroyed({ ...base, typedVmid: 310, actor: 'alice' })).toEqual({ code: 'vmid_mismatch', detail: 'Typed VMID does not match this deletion request.' });
    expect(checkConfirmDestroyed({ ...base, actor: 'alice' })).toEqual({ code: 'self_approval_blocked', detail: 'Self-approval blocked: a different authorized user must approve this request.' });
    expect(checkConfirmDestroyed({ ...base, actorTokenIssuers: ['alice'] })).toMatchObject({ code: 'self_approval_blocked' });
    expect(checkConfirmDestroyed({ ...base, actor: 'alice', selfApproveAllowed: true })).toBeNull();
    expect(checkConfirmDestroyed({ ...base, actorPermissions: ['netbox_proxbox.authorize_deletion_request'] })).toBeNull();
  });
  const snap = { vmid: 301, node: 'pve01', kind: 'qemu' as const, name: 'web-01' };
  it('counts the guest as gone only when the cluster does not list its VMID at all', () => {
    expect(guestStillPresent(snap, null)).toBeNull();
    expect(guestStillPresent(snap, { type: 'qemu', node: 'pve01', name: 'web-01' })).toEqual({
      code: 'guest_still_present',
      detail: 'The cluster still lists qemu 301 web-01 on node pve01; destroy qemu 301 web-01 in Proxmox first, then confirm again. Nothing changed.',
    });
    // Moved, renamed or another guest on the VMID: still present (fail closed), and the message says what is there.
    expect(guestStillPresent(snap, { type: 'lxc', node: 'pve02', name: null, lock: 'create' })?.detail).toBe(
      'The cluster still lists lxc 301 (no name) on node pve02 (a task holds it: lock create; wait for it to end); destroy qemu 301 web-01 in Proxmox first, then confirm again. Nothing changed.');
  });
  it('believes a missing VMID only on a cluster that still holds the request\'s node', () => {
    expect(nodeOutsideCluster(snap, 'lab', ['pve02', 'pve01'])).toBeNull();
    expect(nodeOutsideCluster(snap, 'lab', ['oth01'])).toEqual({
      code: 'endpoint_changed',
      detail: 'The cluster behind endpoint lab has no node pve01, where qemu 301 web-01 was: the endpoint no longer reaches the request\'s cluster, so VMID 301 missing there proves nothing. Nothing changed.',
    });
    expect(nodeOutsideCluster(snap, 'lab', [])).toMatchObject({ code: 'endpoint_changed' });
  });
  it('says why absence could not be established, and what the closed request says', () => {
    expect(clusterUnreadable(snap, 'proxbox-api is unreachable')).toEqual({
      code: 'cluster_unreadable',
      detail: 'Could not establish that qemu 301 web-01 is gone: proxbox-api is unreachable. Nothing changed; confirm again once proxbox-api and the cluster answer.',
    });
    expect(manuallyDestroyedReason(snap, 'bob', new Date('2026-07-01T10:00:00.000Z'))).toBe(
      'qemu 301 web-01 was destroyed by hand: bob confirmed it at 2026-07-01T10:00:00.000Z, and the cluster no longer lists VMID 301.');
    expect(DELETION_REASON_CODES.manually_destroyed).toMatch(/confirmed the guest was destroyed by hand/);
  });
});

describe('contract wording and the TTL', () => {
  it('words a backend without proxbox-api.md §10 (a) exactly as the contract does, then names the confirmation route', () => {
    expect(backendCannotRegisterDeletion({ id: 12, kind: 'qemu', vmid: 301, node: 'pve01' })).toEqual({
      code: 'backend_cannot_register_deletion',
      message: 'proxbox-api does not offer POST /intent/deletion-requests; the approved deletion of qemu 301 on pve01 cannot be executed through it. Destroy it manually (then confirm here) or upgrade proxbox-api. '
        + 'Once the guest is gone, an authorizer other than the requester confirms it with POST /api/v1/deletion-requests/12/confirm-destroyed {"vmid": 301}.',
    });
  });
  it('expires after whole days', () => {
    const now = new Date('2026-07-01T10:00:00.000Z');
    expect(deletionExpiresAt(now, 7).toISOString()).toBe('2026-07-08T10:00:00.000Z');
    expect(deletionExpiresAt(now, 1).toISOString()).toBe('2026-07-02T10:00:00.000Z');
  });
});

describe('decisions and their signatures', () => {
  const decision: DeletionDecision = {
    requestId: 3, workflowId: 'deletion:abcdefgh:1:790', action: 'reject', actor: 'bob', reason: 'still in use', issuedAt: new Date().toISOString(), nonce: 'n-abcdefgh',
  };
  const secret = 'server-secret-0123456789';
  it('binds the signature to the request, the action and the reason', () => {
    const signed = signDecision(secret, decision);
    expect(verifyDecision(secret, signed, new Date())).toEqual({ ok: true });
    for (const change of [{ requestId: 4 }, { workflowId: 'deletion:abcdefgh:1:791' }, { action: 'approve' as const }, { reason: 'other' }, { nonce: 'n-00000000' }]) {
      expect(verifyDecision(secret, { ...signed, decision: { ...decision, ...change } }, new Date()), JSON.stringify(change)).toMatchObject({ ok: false });
    }
  });
  it('refuses decisions issued in the future beyond clock skew, and malformed ones', () => {
    const future = signDecision(secret, { ...decision, issuedAt: new Date(Date.now() + 5 * 60_000).toISOString() });
    expect(verifyDecision(secret, future, new Date())).toMatchObject({ ok: false, why: 'decision expired: issue it again through the API' });
    expect(verifyDecision(secret, null, new Date())).toEqual({ ok: false, why: 'malformed decision' });
    expect(verifyDecision(secret, { decision: { ...decision, reason: 'x'.repeat(256) }, signature: 'ab' }, new Date())).toEqual({ ok: false, why: 'malformed decision' });
  });
  it('counts a decision only in the workflow it was signed for: the row\'s workflow, running under that very id', () => {
    const here = { requestId: 3, rowWorkflowId: decision.workflowId, runningWorkflowId: decision.workflowId };
    expect(decisionTargetMismatch(decision, here)).toBeNull();
    expect(decisionTargetMismatch({ ...decision, requestId: 4 }, here)).toBe('the decision was issued for another deletion request');
    expect(decisionTargetMismatch({ ...decision, workflowId: 'deletion:abcdefgh:1:791' }, here)).toBe('the decision was issued for another deletion request');
    // Signed for request 3's row, but arriving in a workflow someone started straight in Temporal for request 3.
    expect(decisionTargetMismatch(decision, { ...here, runningWorkflowId: 'impostor' })).toMatch(/not for this one \(impostor\)/);
    expect(decisionTargetMismatch({ ...decision, workflowId: 'impostor' }, { ...here, runningWorkflowId: 'impostor' })).toBe('the decision was issued for another deletion request');
  });
  it('a rejection needs a reason and an authoriser; its state and permission are checked before the reason', () => {
    const base = { action: 'reject' as const, state: 'pending' as const, requestVmid: 190, requestedBy: 'alice', actor: 'alice', actorTokenIssuers: [], actorPermissions: ['authorize_deletion_request'], selfApproveAllowed: false };
    expect(checkDecision({ ...base, reason: 'wrong vm' }), 'the requester may reject their own request').toBeNull();
    expect(checkDecision({ ...base, reason: '' })).toMatchObject({ code: 'reason_required' });
    expect(checkDecision({ ...base, state: 'expired' })).toMatchObject({ code: 'invalid_state', detail: 'Deletion request is expired; only pending requests can be rejected.' });
    expect(checkDecision({ ...base, actorPermissions: [], state: 'expired' })).toMatchObject({ code: 'permission_denied' });
  });
});
