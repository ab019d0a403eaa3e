import { describe, expect, it } from 'vitest';
import { Branch, BranchEvent, toEpochMs } from '../../contracts/netbox';
import { lookbackStartMs, mergeAdmission, mergedByMismatch, reapplyPhrase, reconcileCandidates, reconcileDecision, startDecision } from '../../domain/merge-eligibility';
import { MESSAGES } from '../../domain/messages';

/** The netbox.md §9.1 branch, parsed by the contract schema, with overrides. */
function branch(over: { id?: number; status?: string; merged_time?: string | null; apply?: boolean | null } = {}): Branch {
  const status = over.status ?? 'merged';
  return Branch.parse({
    id: over.id ?? 42, url: 'https://netbox.example.com/api/plugins/branching/branches/42/', display: 'add-web-vms', name: 'add-web-vms',
    status: { value: status, label: status }, owner: null, description: '', schema_id: 'k3x9p2qa', last_sync: null,
    merged_time: over.merged_time === undefined ? '2026-07-24T14:03:11.902315Z' : over.merged_time, merged_by: null,
    custom_fields: over.apply === undefined ? { apply_to_proxmox: true } : over.apply === null ? {} : { apply_to_proxmox: over.apply },
    created: '2026-07-23T09:12:44.310021Z', last_updated: '2026-07-24T14:03:11.905118Z',
  });
}

function event(id: number, branchId: number, type: string, time: string): BranchEvent {
  return BranchEvent.parse({
    id, url: `https://netbox.example.com/api/plugins/branching/branch-events/${id}/`, display: type, time,
    branch: { id: branchId, url: '', display: 'b', name: 'b', status: { value: 'merged', label: 'Merged' }, description: '' },
    user: null, type: { value: type, label: type },
  });
}

const MERGED_MS = toEpochMs('2026-07-24T14:03:11.902315Z');

describe('which merges get an apply run', () => {
  it('starts merged and archived branches that are opted in and carry a merge time', () => {
    expect(startDecision(branch())).toEqual({ start: true });
    expect(startDecision(branch({ status: 'archived' }))).toEqual({ start: true });
  });

  it('refuses branches not opted in (absent, null or false) with the seed sentence', () => {
    for (const apply of [false, null]) expect(startDecision(branch({ apply }))).toEqual({ start: false, reason: MESSAGES.notOptedIn });
  });

  it('refuses a branch that was reverted (ready, no merge time) or is still being merged', () => {
    expect(startDecision(branch({ status: 'ready', merged_time: null }))).toEqual({ start: false, reason: 'Branch is ready, not merged' });
    expect(startDecision(branch({ status: 'merging', merged_time: null }))).toMatchObject({ start: false });
    expect(startDecision(branch({ status: 'merged', merged_time: null }))).toEqual({ start: false, reason: 'Branch has no merge time (it was reverted)' });
  });
});

describe('the reconciler window', () => {
  it('starts the window the given hours before now', () => {
    expect(lookbackStartMs(MERGED_MS, 24)).toBe(MERGED_MS - 86_400_000);
    expect(() => lookbackStartMs(MERGED_MS, 0)).toThrow(RangeError);
    expect(() => lookbackStartMs(MERGED_MS, Number.NaN)).toThrow(RangeError);
  });

  it('never replays a merge older than the window, even an opted-in one', () => {
    expect(reconcileDecision(branch(), MERGED_MS)).toEqual({ start: true });
    const late = reconcileDecision(branch(), MERGED_MS + 1);
    expect(late).toMatchObject({ start: false });
    expect(late.start ? '' : late.reason).toContain('before the look-back window');
    expect(reconcileDecision(branch({ apply: false }), 0)).toEqual({ start: false, reason: MESSAGES.notOptedIn });
  });

  it('examines each branch of a merged event once, oldest first, then the branches only the sweep found', () => {
    const events = [
      event(3, 11, 'merged', '2026-07-24T15:00:00.000000Z'),
      event(1, 10, 'merged', '2026-07-24T14:00:00.000000Z'),
      event(2, 12, 'reverted', '2026-07-24T14:30:00.000000Z'),
      event(4, 10, 'merged', '2026-07-24T16:00:00.000000Z'),
    ];
    expect(reconcileCandidates(events, [{ id: 13 }, { id: 11 }])).toEqual([10, 11, 13]);
    expect(reconcileCandidates([], [])).toEqual([]);
  });
});

describe('admission of a merge that has no run yet', () => {
  const merge = { branchId: 42, branchName: 'add-web-vms', workflowId: 'apply:k3x9p2qa:1785000000000', mergedTimeMs: 1_785_000_000_000, lookbackHours: 24 };
  const hour = 3_600_000;

  it('admits a merge inside the look-back window, with or without a confirmation', () => {
    expect(mergeAdmission({ ...merge, nowMs: merge.mergedTimeMs + 24 * hour })).toEqual({ admit: true, reapplied: false });
    expect(mergeAdmission({ ...merge, nowMs: merge.mergedTimeMs + hour, reapplyConfirmation: 'anything' })).toEqual({ admit: true, reapplied: false });
  });

  it('refuses an older merge as merge_too_old, naming the phrase that would re-apply it', () => {
    const refused = mergeAdmission({ ...merge, nowMs: merge.mergedTimeMs + 24 * hour + 1 });
    expect(refused).toMatchObject({ admit: false, code: 'merge_too_old' });
    expect(refused.admit === false && refused.detail).toContain(`"reapplyConfirmation": "reapply ${merge.workflowId}"`);
  });

  it('re-applies an older merge only with the exact phrase naming that merge', () => {
    const late = { ...merge, nowMs: merge.mergedTimeMs + 100 * hour };
    expect(mergeAdmission({ ...late, reapplyConfirmation: reapplyPhrase(merge.workflowId) })).toEqual({ admit: true, reapplied: true });
    for (const typo of ['', 'reapply', reapplyPhrase('apply:k3x9p2qa:1785000000001'), ` ${reapplyPhrase(merge.workflowId)}`]) {
      expect(mergeAdmission({ ...late, reapplyConfirmation: typo })).toMatchObject({ admit: false, code: 'typed_confirmation_required' });
    }
  });
});

describe('who merged: NetBox REST against the webhook body', () => {
  const alice = { id: 7, username: 'alice' };
  it('records nothing when the body agrees or says nothing', () => {
    expect(mergedByMismatch(alice, { username: 'alice', userId: 7 })).toBeNull();
    expect(mergedByMismatch(alice, { username: null, userId: null })).toBeNull();
    expect(mergedByMismatch(alice, undefined)).toBeNull();
  });
  it('describes a body that names someone else, by name or by pk', () => {
    expect(mergedByMismatch(alice, { username: 'admin', userId: 7 })).toBe('the webhook body claimed username "admin", user pk 7; NetBox says alice (pk 7)');
    expect(mergedByMismatch(alice, { username: null, userId: 1 })).toBe('the webhook body claimed user pk 1; NetBox says alice (pk 7)');
    expect(mergedByMismatch(null, { username: 'alice', userId: null })).toBe('the webhook body claimed username "alice"; NetBox says nobody');
  });
});
