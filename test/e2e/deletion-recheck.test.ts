import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletionRequests } from '../../db/schema';
import { startStack, eventually, type Stack } from '../support/stack';
import { EXECUTE, callsFor, getRequest, requestDeletion } from '../support/deletion-requests';

/** The row is read again, in the statement that marks the destroy as sent, right before the irreversible call. */
describe('the deletion row right before execute', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('a request that stopped being `executing` while proxbox-api approved the record is not destroyed, and its record is withdrawn', async () => {
    const { request } = await requestDeletion(s, { vmid: 761, name: 'recheck-761', node: 'pve01', kind: 'qemu' });
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/deletion-requests/\\d+/approve$', mode: 'slow', delayMs: 1_500, times: 1 });
    expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 761 })).status).toBe(200);
    await eventually(async () => (s.proxbox.control.callsTo('POST', /\/approve$/).length === 1 ? true : undefined), 'the held-up approval');
    // Meanwhile the request was ended by someone else (another process, an operator).
    await s.system.database.db.update(deletionRequests)
      .set({ state: 'failed', reason: 'ended elsewhere', reasonCode: 'operator', finishedAt: new Date() })
      .where(eq(deletionRequests.id, request.id));

    await eventually(async () => ((await s.system.temporal.workflow.getHandle(request.workflowId).describe()).status.name === 'COMPLETED' ? true : undefined),
      'the deletion workflow to end');
    expect(callsFor(s, 'POST', EXECUTE, 761), 'no destroy').toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(761)).toBeTruthy();
    const withdrawn = s.proxbox.control.callsTo('POST', /^\/intent\/deletion-requests\/\d+\/reject$/);
    expect(withdrawn).toHaveLength(1);
    expect(withdrawn[0]!.body).toEqual({ reason: 'The request is failed; the destroy was not sent.' });
    const after = await getRequest(s, request.id);
    expect(after).toMatchObject({ state: 'failed', reason: 'ended elsewhere', reasonCode: 'operator' });
  });
});
