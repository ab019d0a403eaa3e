import { describe, expect, it } from 'vitest';
import { refusalStatus } from '../../api/refusal-status';
import { checkDecision, type DecisionInput } from '../../domain/deletion-rules';
import { applySettingsChange, DEFAULT_SETTINGS } from '../../domain/settings';

/**
 * Domain refusals carry a code and a sentence only; the API maps the code to the HTTP status in one place. The
 * statuses are the wire answers of docs api.md (four eyes, settings, starting an apply).
 */
describe('refusal codes to HTTP statuses (the edge)', () => {
  const base: DecisionInput = {
    action: 'approve', state: 'pending', requestVmid: 190, typedVmid: 190, requestedBy: 'alice', actor: 'bob', actorTokenIssuers: [],
    actorPermissions: ['authorize_deletion_request'], selfApproveAllowed: false,
  };

  it('maps each four-eyes refusal to its status, and the refusal itself carries none', () => {
    const cases: [Partial<DecisionInput>, number][] = [
      [{ actorPermissions: ['view'] }, 403], [{ actor: 'alice' }, 403], [{ state: 'approved' }, 409], [{ typedVmid: 191 }, 422],
      [{ action: 'reject', reason: ' ' }, 422],
    ];
    for (const [change, status] of cases) {
      const refusal = checkDecision({ ...base, ...change })!;
      expect(Object.keys(refusal).sort()).toEqual(['code', 'detail']);
      expect(refusalStatus(refusal.code), refusal.code).toBe(status);
    }
  });

  it('maps the settings refusals, the workflow answers and the start refusals', () => {
    const refused = applySettingsChange(DEFAULT_SETTINGS, { netboxToProxmoxEnabled: true });
    expect(refused.ok).toBe(false);
    expect(refused).not.toHaveProperty('status');
    if (!refused.ok) expect(refusalStatus(refused.code)).toBe(422);
    expect(refusalStatus('self_approval_change_blocked')).toBe(403);
    expect(refusalStatus('forged_decision')).toBe(403);
    expect(refusalStatus('decision_not_recorded')).toBe(503);
    expect(refusalStatus('decision_timeout')).toBe(504);
    expect(refusalStatus('merge_too_old')).toBe(409);
    expect(refusalStatus('not_applicable')).toBe(422);
    expect(refusalStatus('branch_not_found')).toBe(404);
    expect(refusalStatus('not_found')).toBe(404);
    // Confirming a manual destroy: the guest is still listed, the endpoint reaches another cluster, or the cluster could not be read.
    expect(refusalStatus('guest_still_present')).toBe(409);
    expect(refusalStatus('endpoint_changed')).toBe(409);
    expect(refusalStatus('cluster_unreadable')).toBe(503);
    // A refusal the workflow may add later is a conflict with the request's state until it is mapped.
    expect(refusalStatus('some_future_refusal')).toBe(409);
  });
});
