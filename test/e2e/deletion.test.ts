import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from '../../domain/messages';
import { SELF_APPROVAL_PHRASE } from '../../domain/settings';
import { decideSignal, decideUpdate, deletionStateQuery } from '../../workflows/definitions';
import { startStack, eventually, type Stack } from '../support/stack';
import {
  BACKEND_APPROVE, EXECUTE, REGISTER, UNTAG, apiSignedDecision, callsFor, getRequest, requestDeletion, settled, type RequestView,
} from '../support/deletion-requests';
import { recordHistoryIfAsked } from '../support/histories';

const DAY_MS = 86_400_000;

/** The update's refusal as the Temporal client sees it: the failure type is our code; no HTTP status travels with it. */
async function refusalOf(p: Promise<unknown>): Promise<{ type: string | undefined; message: string; status: unknown }> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const failure = cause as ApplicationFailure;
  return { type: failure.type ?? undefined, message: failure.message, status: failure.details?.[0] };
}

function searchAttributes(desc: { typedSearchAttributes: { getAll(): { key: { name: string }; value: unknown }[] } }) {
  return Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
}

describe('the DeletionWorkflow: lifecycle, four-eyes rules enforced by the workflow itself, and the API', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  let first: RequestView;

  it('a new request is pending, tagged, visible in Temporal (state, requester, deadline) and outlives the ApplyWorkflow', async () => {
    const { request, jobId } = await requestDeletion(s, { vmid: 601, name: 'retire-601', node: 'pve01', kind: 'qemu' });
    first = request;
    expect(request).toMatchObject({ state: 'pending', vmid: 601, node: 'pve01', kind: 'qemu', name: 'retire-601', requestedBy: 'alice', authorizer: null,
      decidedAt: null, executedAt: null, finishedAt: null, reason: null, reasonCode: null, taggedPendingDeletion: true });
    expect(request.workflowId).toMatch(/^deletion:[a-z0-9]{8}:\d{13}:\d+$/);
    expect(request.workflowId.endsWith(`:${request.netboxId}`)).toBe(true);
    expect(Date.parse(request.expiresAt) - Date.parse(request.requestedAt)).toBeGreaterThanOrEqual(7 * DAY_MS - 60_000);
    expect(Date.parse(request.expiresAt) - Date.parse(request.requestedAt)).toBeLessThanOrEqual(7 * DAY_MS + 60_000);
    expect(request.history.map((h: any) => [h.action, h.outcome, h.actor])).toEqual([
      ['requested', 'ok', 'alice'], ['tag_pending_deletion', 'ok', 'proxbox-intent'],
    ]);

    const job = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${jobId}`)).body;
    const applyHandle = s.system.temporal.workflow.getHandle(job.workflowId);
    await applyHandle.result();
    const apply = await applyHandle.describe();
    const deletion = s.system.temporal.workflow.getHandle(request.workflowId);
    const desc = await deletion.describe();
    expect(apply.status.name).toBe('COMPLETED');
    expect(desc.status.name).toBe('RUNNING');
    expect(desc.type).toBe('DeletionWorkflow');
    expect(searchAttributes(desc)).toMatchObject({ ProxboxState: 'pending', ProxboxUser: 'alice', ProxboxKind: 'qemu', ProxboxVmids: ['601'] });
    expect(await desc.staticSummary()).toBe(`Deletion of qemu 601 retire-601 on pve01, requested by alice, expires ${request.expiresAt}`);
    const metadata = await deletion.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**pending**');
    expect(metadata.currentDetails).toContain('requested by alice');
    expect(metadata.currentDetails).toContain(`expires ${request.expiresAt}`);
    expect(await deletion.query(deletionStateQuery)).toMatchObject({
      requestId: request.id, state: 'pending', vmid: 601, requestedBy: 'alice', expiresAt: request.expiresAt, decidedBy: null, refusedAttempts: 0,
    });
  });

  it('reject needs a reason of 1 to 255 characters and an authoriser; it stores who, when and why, and untags', async () => {
    const path = `/api/v1/deletion-requests/${first.id}/reject`;
    for (const body of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(256) }, { reason: 'ok', extra: 1 }]) {
      const res = await s.call(s.tokens.bob, 'POST', path, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('validation_failed');
    }
    const carol = await s.call(s.tokens.carol, 'POST', path, { reason: 'not mine to decide' });
    expect(carol.status).toBe(403);
    expect(carol.body.code).toBe('permission_denied');
    expect((await getRequest(s, first.id)).state).toBe('pending');

    const res = await s.call(s.tokens.bob, 'POST', path, { reason: 'still used by billing' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'rejected', authorizer: 'bob', reason: 'still used by billing', reasonCode: 'rejected' });
    expect(res.body.decidedAt).toEqual(res.body.finishedAt);
    const done = await eventually(async () => {
      const r = await getRequest(s, first.id);
      return r.taggedPendingDeletion ? undefined : r;
    }, 'the untag');
    expect(callsFor(s, 'PUT', UNTAG, 601)).toHaveLength(1);
    expect(callsFor(s, 'PUT', UNTAG, 601)[0]!.body).toEqual({ vmid: 601, node: 'pve01', kind: 'qemu', tag: 'proxbox-pending-deletion' });
    expect(String(s.proxbox.cluster.getGuest(601)!.config.tags ?? '')).not.toContain('proxbox-pending-deletion');
    expect(done.history.filter((h: any) => h.outcome === 'ok').map((h: any) => [h.action, h.actor])).toEqual([
      ['requested', 'alice'], ['tag_pending_deletion', 'proxbox-intent'], ['reject', 'bob'], ['untag_pending_deletion', 'proxbox-intent'],
    ]);
    expect(done.history.find((h: any) => h.action === 'reject' && h.outcome === 'ok').detail).toBe('still used by billing');
    expect(done.history.filter((h: any) => h.outcome === 'refused').map((h: any) => h.actor)).toEqual(['carol']);

    const handle = s.system.temporal.workflow.getHandle(first.workflowId);
    await eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 'the run to close');
    expect(searchAttributes(await handle.describe()).ProxboxState).toBe('rejected');
    expect(await handle.result()).toMatchObject({ state: 'rejected', decidedBy: 'bob', reason: 'still used by billing', reasonCode: 'rejected' });
    await recordHistoryIfAsked(s.system.temporal, first.workflowId, 'deletion-rejected-untagged');

    const approve = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${first.id}/approve`, { vmid: 601 });
    expect(approve.status).toBe(409);
    expect(approve.body).toMatchObject({ code: 'invalid_state', detail: 'Deletion request is rejected; only pending requests can be approved.' });
    expect((await s.call(s.tokens.bob, 'POST', path, { reason: 'again' })).status).toBe(409);
    expect(callsFor(s, 'POST', REGISTER, 601)).toHaveLength(0);
    expect(s.proxbox.control.callsTo('POST', EXECUTE)).toHaveLength(0);
    expect(s.proxbox.cluster.getGuest(601)).toBeTruthy();
  });

  it('refuses decisions sent straight to Temporal (forged, unsigned, wrong secret, for another request, by signal) and records them once a minute', async () => {
    const { request } = await requestDeletion(s, { vmid: 602, name: 'retire-602', node: 'pve02', kind: 'lxc' });
    const handle = s.system.temporal.workflow.getHandle(request.workflowId);
    const genuine = apiSignedDecision(request);
    const forgedApprover = { ...genuine, decision: { ...genuine.decision, actor: 'mallory' } };
    const unsigned = { decision: genuine.decision, signature: '0'.repeat(64) };
    const wrongSecret = apiSignedDecision(request, {}, 'not-the-server-secret-at-all-000');
    const otherRequest = apiSignedDecision(first);

    for (const forged of [forgedApprover, unsigned, wrongSecret]) {
      const refusal = await refusalOf(handle.executeUpdate(decideUpdate, { args: [forged] }));
      expect(refusal).toEqual({
        type: 'forged_decision', status: undefined, message: 'Decision refused: signature does not verify: the decision was not issued by the proxbox-intent API.',
      });
    }
    expect(await refusalOf(handle.executeUpdate(decideUpdate, { args: [otherRequest] }))).toEqual({
      type: 'forged_decision', status: undefined, message: 'Decision refused: the decision was issued for another deletion request.',
    });
    // Malformed: the update's validator rejects it before it reaches the workflow (or its history).
    expect(await refusalOf(handle.executeUpdate(decideUpdate, { args: [{ hello: 'world' } as never] }))).toEqual({
      type: 'forged_decision', status: undefined, message: 'Decision refused: malformed decision.',
    });
    await handle.signal(decideSignal, forgedApprover);

    // The history is written inside the activity; the workflow counts the refusal when the activity returns.
    const live = await eventually(async () => {
      const q = await handle.query(deletionStateQuery);
      return q.refusedAttempts === 5 ? q : undefined;
    }, 'the workflow to count five refusals');
    // An unverified decision is recorded under 'unverified' (what it claims is only a claim), once a minute.
    const after = await getRequest(s, request.id);
    const refused = after.history.filter((h: any) => h.outcome === 'refused');
    expect(refused.map((h: any) => [h.actor, h.action])).toEqual([['unverified', 'approve']]);
    expect(refused[0].detail).toBe('Decision refused: signature does not verify: the decision was not issued by the proxbox-intent API. It claimed to come from "mallory".');
    expect(after).toMatchObject({ state: 'pending', authorizer: null, decidedAt: null });
    expect(live).toMatchObject({ state: 'pending', decidedBy: null });
    expect(callsFor(s, 'POST', REGISTER, 602)).toHaveLength(0);
    expect(callsFor(s, 'PUT', UNTAG, 602)).toHaveLength(0);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // The signal path works under the same rules for a decision our API signed.
    await handle.signal(decideSignal, apiSignedDecision(request, { action: 'reject', typedVmid: undefined, reason: 'decided by signal' }));
    const rejected = await settled(s, request.id);
    expect(rejected).toMatchObject({ state: 'rejected', authorizer: 'bob', reason: 'decided by signal' });
    expect(rejected.history.find((h: any) => h.action === 'reject' && h.outcome === 'ok').detail).toBe('decided by signal (sent as a Temporal signal)');
    await s.system.temporal.workflow.getHandle(request.workflowId).result();
    await recordHistoryIfAsked(s.system.temporal, request.workflowId, 'deletion-refused-then-rejected-by-signal');
  });

  it('re-checks the current permission: a decision the API signed for bob is refused once bob lost authorize_deletion_request', async () => {
    const { request } = await requestDeletion(s, { vmid: 603, name: 'retire-603', node: 'pve01', kind: 'qemu' });
    const signedWhileAllowed = apiSignedDecision(request);
    expect((await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/bob', { permissions: ['view'] })).status).toBe(200);
    try {
      const handle = s.system.temporal.workflow.getHandle(request.workflowId);
      expect(await refusalOf(handle.executeUpdate(decideUpdate, { args: [signedWhileAllowed] }))).toMatchObject({ type: 'permission_denied', status: undefined });
      const viaApi = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 603 });
      expect(viaApi.status).toBe(403);
      expect(viaApi.body.code).toBe('permission_denied');
      const r = await getRequest(s, request.id);
      expect(r.state).toBe('pending');
      // Refused twice within the minute (by the workflow, then by the API): recorded once.
      expect(r.history.filter((h: any) => h.outcome === 'refused').map((h: any) => [h.actor, h.action])).toEqual([['bob', 'approve']]);
      expect(callsFor(s, 'POST', REGISTER, 603)).toHaveLength(0);
    } finally {
      await s.call(s.tokens.admin, 'PATCH', '/api/v1/users/bob', { permissions: ['view', 'authorize_deletion_request'] });
    }

    // Restored: two approvals at once; the workflow takes them one at a time, so exactly one wins.
    const [a, b] = await Promise.all([1, 2].map(() => s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 603 })));
    expect([a!.status, b!.status].sort()).toEqual([200, 409]);
    expect([a!, b!].find((r) => r.status === 409)!.body.code).toBe('invalid_state');
    const done = await settled(s, request.id);
    expect(done.state, JSON.stringify(done.history, null, 1)).toBe('succeeded');
    expect(callsFor(s, 'POST', EXECUTE, 603)).toHaveLength(1);
  });

  it('approval by a second user runs approved → executing → succeeded, each step stored with who and when', async () => {
    const { request } = await requestDeletion(s, { vmid: 604, name: 'retire-604', node: 'pve02', kind: 'qemu' });
    const wrong = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 640 });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({ code: 'vmid_mismatch', detail: VMID_MISMATCH });
    const res = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: 604 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ authorizer: 'bob' });
    expect(['approved', 'executing', 'succeeded']).toContain(res.body.state);
    const done = await settled(s, request.id);
    expect(done).toMatchObject({ state: 'succeeded', authorizer: 'bob', reason: null, reasonCode: null, taggedPendingDeletion: false });
    expect(done.proxmoxUpid).toMatch(/^UPID:pve02:.*:qmdestroy:604:/);
    expect(Date.parse(done.decidedAt)).toBeLessThanOrEqual(Date.parse(done.executedAt));
    expect(Date.parse(done.executedAt)).toBeLessThanOrEqual(Date.parse(done.finishedAt));
    expect(done.history.filter((h: any) => h.outcome === 'ok').map((h: any) => [h.action, h.actor])).toEqual([
      ['requested', 'alice'], ['tag_pending_deletion', 'proxbox-intent'], ['approve', 'bob'], ['executing', 'bob'],
      ['register_backend_record', 'proxbox-intent'], ['destroy_sending', 'bob'], ['destroy_requested', 'bob'], ['succeeded', 'proxbox-intent'],
    ]);
    for (const h of done.history) expect(Number.isNaN(Date.parse(h.at))).toBe(false);
    expect(callsFor(s, 'POST', REGISTER, 604)).toHaveLength(1);
    expect(callsFor(s, 'POST', BACKEND_APPROVE, 604)).toHaveLength(1);
    expect(callsFor(s, 'POST', EXECUTE, 604)).toHaveLength(1);
    expect(s.proxbox.control.callsTo('GET', /^\/intent\/tasks\/pve02\//).length).toBeGreaterThanOrEqual(1);
    expect(s.proxbox.cluster.getGuest(604)).toBeUndefined();

    const handle = s.system.temporal.workflow.getHandle(request.workflowId);
    expect(await handle.result()).toMatchObject({ state: 'succeeded', reasonCode: null });
    expect(searchAttributes(await handle.describe()).ProxboxState).toBe('succeeded');
    expect(await handle.query(deletionStateQuery)).toMatchObject({ state: 'succeeded', decidedBy: 'bob' });
  });

  it('self-approval is refused, and allowed while selfApproveAllowed is on', async () => {
    const { request } = await requestDeletion(s, { vmid: 605, name: 'retire-605', node: 'pve01', kind: 'lxc' });
    const path = `/api/v1/deletion-requests/${request.id}/approve`;
    const blocked = await s.call(s.tokens.alice, 'POST', path, { vmid: 605 });
    expect(blocked.status).toBe(403);
    expect(blocked.body).toMatchObject({ code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED });
    expect((await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE })).body.selfApproveAllowed).toBe(true);
    try {
      const res = await s.call(s.tokens.alice, 'POST', path, { vmid: 605 });
      expect(res.status).toBe(200);
      expect(res.body.authorizer).toBe('alice');
      expect((await settled(s, request.id)).state).toBe('succeeded');
      expect(callsFor(s, 'POST', EXECUTE, 605)).toHaveLength(1);
    } finally {
      await s.call(s.tokens.admin, 'PUT', '/api/v1/settings', { selfApproveAllowed: false });
    }
  });

  it('lists with state, branchId and vmid filters and pages with an opaque cursor', async () => {
    const all = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests?limit=500')).body.items as RequestView[];
    expect(all.map((r) => r.vmid)).toEqual([605, 604, 603, 602, 601]);
    const rejected = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests?state=rejected')).body;
    expect(rejected.items.map((r: RequestView) => r.vmid)).toEqual([602, 601]);
    expect(rejected.nextCursor).toBeNull();
    const byBranch = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${first.branch.id}`)).body.items;
    expect(byBranch.map((r: RequestView) => r.id)).toEqual([first.id]);
    const byVmid = (await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests?vmid=603&state=succeeded')).body.items;
    expect(byVmid.map((r: RequestView) => r.vmid)).toEqual([603]);
    expect((await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests?vmid=603&state=pending')).body.items).toEqual([]);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const pageBody: { items: RequestView[]; nextCursor: string | null } = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?limit=2${q}`)).body;
      expect(pageBody.items.length).toBeLessThanOrEqual(2);
      seen.push(...pageBody.items.map((r) => r.vmid));
      cursor = pageBody.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([605, 604, 603, 602, 601]);
    expect(pages).toBe(3);

    for (const bad of ['state=gone', 'vmid=abc', 'limit=0', 'limit=501', 'cursor=not-a-cursor']) {
      const res = await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?${bad}`);
      expect(res.status, bad).toBe(422);
    }
    expect((await s.call(s.tokens.bob, 'POST', '/api/v1/deletion-requests/99999/approve', { vmid: 1 })).status).toBe(404);
    expect((await s.call('not-a-token', 'GET', '/api/v1/deletion-requests')).status).toBe(401);
  });

  it('a tag that failed for a passing reason (proxbox-api answered 502) is tried again until the guest is tagged', async () => {
    s.proxbox.cluster.injectPveError({ method: 'PUT', path: '^nodes/pve01/qemu/612/config$', status: 500, message: 'got timeout', times: 2 });
    const { request } = await requestDeletion(s, { vmid: 612, name: 'retire-612', node: 'pve01', kind: 'qemu' }, { waitForTag: false });
    const tagged = await eventually(async () => {
      const r = await getRequest(s, request.id);
      return r.taggedPendingDeletion ? r : undefined;
    }, 'the tag after two failed tries');
    expect(tagged.history.map((h: any) => [h.action, h.outcome])).toEqual([
      ['requested', 'ok'], ['tag_pending_deletion', 'error'], ['tag_pending_deletion', 'error'], ['tag_pending_deletion', 'ok'],
    ]);
    expect(String(s.proxbox.cluster.getGuest(612)!.config.tags ?? '')).toContain('proxbox-pending-deletion');
  });
});
