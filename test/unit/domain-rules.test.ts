import { describe, expect, it } from 'vitest';
import { applySettingsChange, CONFIRMATION_PHRASE, DEFAULT_SETTINGS, intentEnabled, SELF_APPROVAL_PHRASE } from '../../domain/settings';
import { jobStateOf } from '../../domain/job-state';
import { checkDecision } from '../../domain/deletion-rules';
import { signDecision, verifyDecision, type DeletionDecision } from '../../domain/approval-signature';
import { detectGuestKind } from '../../domain/guest-kind';
import { routeEndpoint } from '../../domain/routing';
import { firstClosedGate, upstreamEndpointGate } from '../../domain/gates';
import { normalizePermissions, requiredPermissionFor } from '../../domain/permissions';
import { SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from '../../domain/messages';
import { failureReasonOf } from '../../domain/failure-reasons';

describe('settings: the typed confirmation phrase', () => {
  it('refuses to switch intent on without the exact phrase, and changes nothing', () => {
    expect(applySettingsChange(DEFAULT_SETTINGS, { netboxToProxmoxEnabled: true })).toMatchObject({ ok: false, code: 'typed_confirmation_required' });
    expect(applySettingsChange(DEFAULT_SETTINGS, { netboxToProxmoxEnabled: true, typedConfirmation: 'allow-edit-and-add-action' })).toMatchObject({ ok: false });
    expect(applySettingsChange(DEFAULT_SETTINGS, { netboxToProxmoxEnabled: true, typedConfirmation: ` ${CONFIRMATION_PHRASE}` })).toMatchObject({ ok: false });
  });
  it('switches on with the phrase, clears it when switched off, and needs it again', () => {
    const on = applySettingsChange(DEFAULT_SETTINGS, { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE });
    expect(on).toMatchObject({ ok: true, settings: { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE } });
    if (!on.ok) throw new Error('unreachable');
    const other = applySettingsChange(on.settings, { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE });
    expect(other).toMatchObject({ ok: true, settings: { netboxToProxmoxEnabled: true, selfApproveAllowed: true } });
    const off = applySettingsChange(on.settings, { netboxToProxmoxEnabled: false });
    expect(off).toMatchObject({ ok: true, settings: { netboxToProxmoxEnabled: false, typedConfirmation: null } });
    if (!off.ok) throw new Error('unreachable');
    expect(applySettingsChange(off.settings, { netboxToProxmoxEnabled: true })).toMatchObject({ ok: false });
  });
  it('counts the flag as on only with the phrase stored beside it', () => {
    expect(intentEnabled({ netboxToProxmoxEnabled: true, typedConfirmation: null })).toBe(false);
    expect(intentEnabled({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE })).toBe(true);
  });
});

describe('job state rule', () => {
  it('succeeds when every diff succeeded, was skipped or requested its deletion', () => {
    expect(jobStateOf(['succeeded', 'skipped', 'deletion_requested', 'accepted'])).toBe('succeeded');
    expect(jobStateOf([])).toBe('succeeded');
  });
  it('is failed when none did and partial otherwise; a cancel is always failed', () => {
    expect(jobStateOf(['failed', 'blocked'])).toBe('failed');
    expect(jobStateOf(['failed', 'succeeded'])).toBe('partial');
    expect(jobStateOf(['not_implemented', 'skipped'])).toBe('partial');
    expect(jobStateOf(['succeeded'], true)).toBe('failed');
  });
});

describe('four-eyes decision rules', () => {
  const base = { action: 'approve' as const, state: 'pending' as const, requestVmid: 190, requestedBy: 'alice', actor: 'bob', actorTokenIssuers: ['admin', 'system:bootstrap'], actorPermissions: ['authorize_deletion_request'], selfApproveAllowed: false, typedVmid: 190 };
  it('allows a different authorised user with the right VMID', () => {
    expect(checkDecision(base)).toBeNull();
  });
  it('refuses in the documented order with the exact messages', () => {
    expect(checkDecision({ ...base, actorPermissions: ['view'] })).toMatchObject({ code: 'permission_denied' });
    expect(checkDecision({ ...base, state: 'rejected' })).toMatchObject({ code: 'invalid_state' });
    expect(checkDecision({ ...base, typedVmid: 191 })).toEqual({ code: 'vmid_mismatch', detail: VMID_MISMATCH });
    expect(checkDecision({ ...base, actor: 'alice' })).toEqual({ code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED });
    expect(checkDecision({ ...base, actor: 'alice', selfApproveAllowed: true })).toBeNull();
    expect(checkDecision({ ...base, actorPermissions: ['netbox_proxbox.authorize_deletion_request'] })).toBeNull();
  });
  it('needs a reason to reject', () => {
    expect(checkDecision({ ...base, action: 'reject', reason: '  ' })).toMatchObject({ code: 'reason_required' });
    expect(checkDecision({ ...base, action: 'reject', reason: 'wrong VM' })).toBeNull();
  });
});

describe('signed decisions', () => {
  const decision: DeletionDecision = { requestId: 1, workflowId: 'deletion:abcdefgh:1:790', action: 'approve', actor: 'bob', typedVmid: 190, issuedAt: new Date().toISOString(), nonce: 'n-12345678' };
  it('verify with the secret and fail when anything is changed', () => {
    const signed = signDecision('server-secret-0123456789', decision);
    expect(verifyDecision('server-secret-0123456789', signed, new Date())).toEqual({ ok: true });
    expect(verifyDecision('another-secret-0123456789', signed, new Date())).toMatchObject({ ok: false });
    expect(verifyDecision('server-secret-0123456789', { ...signed, decision: { ...decision, actor: 'mallory' } }, new Date())).toMatchObject({ ok: false });
    expect(verifyDecision('server-secret-0123456789', { decision, signature: 'zz' }, new Date())).toMatchObject({ ok: false });
    expect(verifyDecision('server-secret-0123456789', { nonsense: true }, new Date())).toMatchObject({ ok: false, why: 'malformed decision' });
  });
  it('expire after five minutes', () => {
    const signed = signDecision('server-secret-0123456789', decision);
    expect(verifyDecision('server-secret-0123456789', signed, new Date(Date.now() + 6 * 60_000))).toMatchObject({ ok: false });
  });
});

describe('guest kind, routing, gates and permissions', () => {
  it('detects the kind from the custom field, then the role, then the VM type', () => {
    expect(detectGuestKind({ proxmoxVmType: 'LXC' })).toEqual({ kind: 'lxc', explicit: true });
    expect(detectGuestKind({ proxmoxVmType: 'vm' })).toEqual({ kind: 'qemu', explicit: true });
    expect(detectGuestKind({ role: { slug: 'container-lxc', name: 'Container' } })).toEqual({ kind: 'lxc', explicit: true });
    expect(detectGuestKind({ virtualMachineType: { slug: 'x', name: 'Linux Container' } })).toEqual({ kind: 'lxc', explicit: true });
    expect(detectGuestKind({})).toEqual({ kind: 'qemu', explicit: false });
  });
  it('routes by cluster id or name before the default, never to the first writable endpoint', () => {
    const eps = [
      { id: 1, clusters: [], isDefault: false, allowWrites: true },
      { id: 2, clusters: ['Lab-Cluster'], isDefault: false, allowWrites: false },
      { id: 3, clusters: ['9'], isDefault: true, allowWrites: true },
    ];
    expect(routeEndpoint(eps, { id: 5, name: 'lab-cluster' })?.id).toBe(2);
    expect(routeEndpoint(eps, { id: 9, name: null })?.id).toBe(3);
    expect(routeEndpoint(eps, { id: 7, name: 'other' })?.id).toBe(3);
    expect(routeEndpoint(eps.slice(0, 2), { id: 7, name: 'other' })).toBeNull();
  });
  it('names the first closed gate with the seed sentence', () => {
    const open = { settings: { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, optedIn: true, destroyConfirmed: true, backendConfigured: true, endpoint: { allowWrites: true }, permissions: ['intent_delete_lxc'], op: 'delete' as const, kind: 'lxc' as const };
    expect(firstClosedGate(open)).toBeNull();
    expect(firstClosedGate({ ...open, settings: { netboxToProxmoxEnabled: false, typedConfirmation: null } })?.message).toBe('Intent master flag is disabled');
    expect(firstClosedGate({ ...open, optedIn: false })?.message).toBe('Branch is not opted in');
    expect(firstClosedGate({ ...open, permissions: ['intent_delete_vm'] })?.message).toBe('permission denied: intent_delete_lxc');
    expect(firstClosedGate({ ...open, destroyConfirmed: false })?.message).toBe('DELETE diffs require apply_destroy_confirmed=True');
    expect(firstClosedGate({ ...open, backendConfigured: false })?.message).toBe('No FastAPIEndpoint is configured');
    expect(firstClosedGate({ ...open, endpoint: { allowWrites: false } })?.message).toBe('writes_disabled_for_endpoint');
  });
  it('requires proxbox-api\'s endpoint to be enabled and writable, since its own gate ignores enabled', () => {
    expect(upstreamEndpointGate({ enabled: true, allowWrites: true })).toBeNull();
    expect(upstreamEndpointGate({ enabled: false, allowWrites: true })).toMatchObject({ reason: 'writes_disabled_for_endpoint', message: 'writes_disabled_for_endpoint' });
    expect(upstreamEndpointGate({ enabled: true, allowWrites: false })).toMatchObject({ reason: 'writes_disabled_for_endpoint', message: 'writes_disabled_for_endpoint' });
    expect(upstreamEndpointGate(null)).toMatchObject({ reason: 'endpoint_not_found' });
  });
  it('maps op and kind to the seed permission names, with or without the prefix', () => {
    expect(requiredPermissionFor('create', 'qemu')).toBe('intent_create_vm');
    expect(requiredPermissionFor('delete', 'lxc')).toBe('intent_delete_lxc');
    expect(normalizePermissions(['netbox_proxbox.view', 'view', 'intent_update_lxc'])).toEqual(['intent_update_lxc', 'view']);
    expect(() => normalizePermissions(['root'])).toThrow(/unknown permission/);
  });
});

describe('VMID search attribute', () => {
  it('stays under Temporal\'s 2 KiB value limit for big branches, sorted and without duplicates', async () => {
    const { vmidSearchValues, VMID_ATTRIBUTE_BUDGET } = await import('../../workflows/definitions');
    expect(vmidSearchValues([312, 105, 312])).toEqual(['105', '312']);
    const many = vmidSearchValues(Array.from({ length: 500 }, (_, i) => 10_000 + i));
    expect(JSON.stringify(many).length).toBeLessThanOrEqual(VMID_ATTRIBUTE_BUDGET);
    expect(many.length).toBeGreaterThan(100);
    expect(many[0]).toBe('10000');
  });
});

describe('failure reasons: Proxmox error texts become reason codes operators can filter on', () => {
  it.each([
    ["unable to create VM 190 - VM 190 already exists on node 'pve01'", 'vmid_in_use'],
    ["hostname lookup 'pve09' failed - failed to get address info for: pve09: Name or service not known", 'node_not_found'],
    ["storage 'ceph-gone' does not exist", 'storage_not_found'],
    ["unable to create CT 320 - volume 'local:vztmpl/debian-13.tar.zst' does not exist", 'template_not_found'],
    ['writes_disabled_for_endpoint', 'writes_disabled_for_endpoint'],
    ["volume 'local-lvm:vm-105-disk-1' does not exist", 'proxbox_rejected'],
    ['400 Parameter verification failed. memory: value must be at least 16', 'proxbox_rejected'],
  ])('%s → %s', (message, reason) => {
    expect(failureReasonOf(message)).toBe(reason);
  });
});
