import { describe, expect, it } from 'vitest';
import {
  backendCannotRegisterDeletion, checkDecision, deletionExpiresAt, executionRefusal, snapshotMismatch, type ExecutionCheckInput,
} from '../../domain/deletion-rules';
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

describe('contract wording and the TTL', () => {
  it('words a backend without proxbox-api.md §10 (a) exactly as the contract does', () => {
    expect(backendCannotRegisterDeletion({ kind: 'qemu', vmid: 301, node: 'pve01' })).toEqual({
      code: 'backend_cannot_register_deletion',
      message: 'proxbox-api does not offer POST /intent/deletion-requests; the approved deletion of qemu 301 on pve01 cannot be executed through it. Destroy it manually (then confirm here) or upgrade proxbox-api.',
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
