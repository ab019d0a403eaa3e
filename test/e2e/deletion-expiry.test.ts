import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeletionRequestStore } from '../../db/deletion-requests';
import { DeletionWorkflow } from '../../workflows/deletion';
import { SA_STATE, decideUpdate } from '../../workflows/definitions';
import { startStack, type Stack } from '../support/stack';
import { EXECUTE, REGISTER, UNTAG, apiSignedDecision, callsFor, getRequest, settled, type GuestSpec, type RequestView } from '../support/deletion-requests';
import { recordHistoryIfAsked } from '../support/histories';

const TTL_MS = 4_000;

/**
 * A pending request whose deadline is `ttlMs` ahead, made as the apply's requestDeletion step makes it (the row, then
 * its DeletionWorkflow with the row's expiresAt), but without a merge: a merged branch gets the configured TTL in
 * whole days. The merge path to a request is covered by deletion.test.ts; the expiry timer here is the workflow's own.
 */
async function requestExpiringIn(s: Stack, guest: GuestSpec, ttlMs: number): Promise<RequestView> {
  s.proxbox.cluster.addGuest({ endpointId: 1, vmid: guest.vmid, node: guest.node, type: guest.kind, name: guest.name, status: 'stopped', cores: 1, memory: 512 });
  const endpoint = (await s.system.endpoints.list()).find((e) => e.name === 'lab')!;
  const workflowId = `deletion-expiry-test:${guest.vmid}`;
  const row = await new DeletionRequestStore(s.system.database.db).ensure({
    workflowId, vmid: guest.vmid, node: guest.node, kind: guest.kind, name: guest.name, netboxId: 9_000 + guest.vmid, changeDiffId: 1,
    clusterKey: '5', endpointId: endpoint.id, branchId: 1, branchSchemaId: 'expiry01', branchName: `retire-${guest.name}`, applyJobId: null,
    requestedBy: 'alice', expiresAt: new Date(Date.now() + ttlMs), metadataSnapshot: { vmid: guest.vmid, node: guest.node, kind: guest.kind, name: guest.name },
  }, 'alice');
  await s.system.temporal.workflow.start(DeletionWorkflow, {
    workflowId, taskQueue: s.taskQueue, typedSearchAttributes: [{ key: SA_STATE, value: 'pending' }],
    args: [{ requestId: row.id, vmid: guest.vmid, node: guest.node, kind: guest.kind, name: guest.name, requestedBy: 'alice', branchSchemaId: 'expiry01', expiresAtMs: row.expiresAt.getTime() }],
  });
  return getRequest(s, row.id);
}

/** Expiry is a durable timer inside the DeletionWorkflow, set from its input's expiresAtMs (the row's expiresAt). */
describe('an unapproved deletion request expires', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('ends expired when nobody decides before the deadline, removes the tag, and can no longer be approved', async () => {
    const request = await requestExpiringIn(s, { vmid: 801, name: 'expire-801', node: 'pve02', kind: 'qemu' }, TTL_MS);
    const ttl = Date.parse(request.expiresAt) - Date.parse(request.requestedAt);
    expect(ttl).toBeGreaterThan(TTL_MS - 1_000);
    expect(ttl).toBeLessThan(TTL_MS + 1_000);

    const r = await settled(s, request.id);
    expect(r).toMatchObject({
      state: 'expired', reasonCode: 'expired', authorizer: null, decidedAt: null, executedAt: null,
      reason: `The request expired at ${request.expiresAt} before anyone approved it; nothing was destroyed.`,
    });
    expect(Date.parse(r.finishedAt)).toBeGreaterThanOrEqual(Date.parse(r.expiresAt));
    const handle = s.system.temporal.workflow.getHandle(request.workflowId);
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'expired', reasonCode: 'expired' });
    const done = await settled(s, request.id);
    expect(done.history.filter((h: any) => h.outcome === 'ok').map((h: any) => [h.action, h.actor])).toEqual([
      ['requested', 'alice'], ['tag_pending_deletion', 'proxbox-intent'], ['expire', 'proxbox-intent'], ['untag_pending_deletion', 'proxbox-intent'],
    ]);
    expect(done.taggedPendingDeletion).toBe(false);
    expect(callsFor(s, 'PUT', UNTAG, 801)).toHaveLength(1);
    expect(String(s.proxbox.cluster.getGuest(801)!.config.tags ?? '')).not.toContain('proxbox-pending-deletion');
    const desc = await handle.describe();
    expect(desc.status.name).toBe('COMPLETED');
    expect(Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).ProxboxState).toBe('expired');

    const late = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 801 });
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'invalid_state', detail: 'Deletion request is expired; only pending requests can be approved.' });
    // Straight to Temporal: the run is closed, so nothing can act on it any more.
    await expect(handle.executeUpdate(decideUpdate, { args: [apiSignedDecision(request)] })).rejects.toThrow();
    expect(callsFor(s, 'POST', REGISTER, 801)).toHaveLength(0);
    expect(callsFor(s, 'POST', EXECUTE, 801)).toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(801)).toBeTruthy();
    await recordHistoryIfAsked(s.system.temporal, request.workflowId, 'deletion-expired-untagged');
  });
});
