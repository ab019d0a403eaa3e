import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import { toEpochMs } from '../../contracts/netbox';
import { UserStore } from '../../db/users';
import { signWebhookBody } from '../../domain/webhook-signature';
import { reapplyPhrase } from '../../domain/merge-eligibility';
import type { ReconcileResult } from '../../workflows/types';
import * as m from '../support/merges';
import { startStack, WEBHOOK_SECRET, type Stack } from '../support/stack';

const LOOKBACK_H = 6;

/**
 * PostgreSQL decides "one apply per merge", whatever Temporal remembers; merges older than RECONCILE_LOOKBACK_H are
 * refused unless an operator deliberately re-applies them; who merged is NetBox's REST answer, never the body's.
 */
describe('one apply per merge, decided by PostgreSQL', () => {
  let s: Stack;
  let seq = 0;
  // NetBox's clock starts two days back (the old merges), then catches up with the present for the rest.
  let netboxOffsetMs = -48 * 3_600_000;
  const old: { branch: { id: number; schemaId: string; name: string }; vmid: number; body: string }[] = [];
  let operatorToken = '';
  /** What the system logged, line by line (the stack writes its logs here). */
  const logLines: { level: string; msg: string }[] = [];

  beforeAll(async () => {
    s = await startStack({
      netboxNow: () => Date.now() + netboxOffsetMs, env: { RECONCILE_LOOKBACK_H: String(LOOKBACK_H), RECONCILE_INTERVAL_S: '3600' },
      logDestination: { write: (line: string) => { logLines.push(JSON.parse(line) as { level: string; msg: string }); } },
    });
    for (const vmid of [711, 712]) {
      const { branch } = m.guestBranch(s, `old-${vmid}`, vmid);
      old.push({ branch, vmid, body: await m.mergeUndelivered(s, branch.id) });
    }
    netboxOffsetMs = 0;
    const users = new UserStore(s.system.database.db);
    await users.create('operator', ['view', 'trigger_apply', 'reapply_merge']);
    operatorToken = (await users.createToken('operator'))!.token;
  });
  afterAll(async () => { await s?.stop(); });

  const guestBranch = () => { seq += 1; return m.guestBranch(s, `guard-${seq}`, 720 + seq); };
  const runId = (branch: { id: number; schemaId: string }) => m.currentRunId(s, branch);
  const jobsOf = (branchId: number) => m.jobsOfBranch(s, branchId);
  const appliesTo = (vmid: number) => m.appliesTo(s, vmid);
  const finished = (jobId: string) => m.finishedJob(s, jobId);
  const hook = (body: string) => fetch(`${s.api}/api/v1/hooks/netbox`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, body) }, body,
  });
  const mergedAt = (branch: { id: number }) => new Date(toEpochMs(s.netbox.branchJson(branch.id).merged_time!)).toISOString();
  const workflowGone = (workflowId: string) => expect(s.system.temporal.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

  it('refuses a merge older than the look-back window on the webhook and the API alike (409 merge_too_old); nothing starts', async () => {
    const [{ branch, vmid, body }] = old as [typeof old[number]];
    const mergedTime = s.netbox.branchJson(branch.id).merged_time!;
    expect(Date.now() - toEpochMs(mergedTime)).toBeGreaterThan(LOOKBACK_H * 3_600_000);

    const viaHook = await hook(body);
    expect(viaHook.status).toBe(409);
    expect(viaHook.headers.get('content-type')).toBe('application/problem+json');
    const hookProblem = await viaHook.json() as any;
    expect(hookProblem).toMatchObject({ status: 409, code: 'merge_too_old' });
    expect(hookProblem.detail).toContain(`before the look-back window of ${LOOKBACK_H} h`);
    expect(hookProblem.detail).toContain(reapplyPhrase(runId(branch)));

    for (const token of [s.tokens.admin, operatorToken]) {
      const viaApi = await s.call(token, 'POST', '/api/v1/apply-jobs', { branchId: branch.id });
      expect(viaApi.status).toBe(409);
      expect(viaApi.headers.get('content-type')).toBe('application/problem+json');
      expect(viaApi.body).toMatchObject({ code: 'merge_too_old', detail: expect.stringContaining(reapplyPhrase(runId(branch))) });
    }
    expect(await jobsOf(branch.id)).toEqual([]);
    await workflowGone(runId(branch));
    expect(appliesTo(vmid)).toHaveLength(0);
  });

  it('re-applies an old merge only deliberately: reapply_merge plus the typed phrase naming the merge, recorded on the job', async () => {
    const [, { branch, vmid, body }] = old as [typeof old[number], typeof old[number]];
    const phrase = reapplyPhrase(runId(branch));
    const withoutPermission = await s.call(s.tokens.admin, 'POST', '/api/v1/apply-jobs', { branchId: branch.id, reapplyConfirmation: phrase });
    expect(withoutPermission.status).toBe(403);
    expect(withoutPermission.body.code).toBe('permission_denied');
    for (const typo of ['', 'reapply', phrase.toUpperCase(), `${phrase} `]) {
      const res = await s.call(operatorToken, 'POST', '/api/v1/apply-jobs', { branchId: branch.id, reapplyConfirmation: typo });
      expect(res.status, typo).toBe(422);
      expect(res.body).toMatchObject({ code: 'typed_confirmation_required', detail: `To re-apply this merge, reapplyConfirmation must be exactly '${phrase}'.` });
    }
    expect(await jobsOf(branch.id)).toEqual([]);

    const res = await s.call(operatorToken, 'POST', '/api/v1/apply-jobs', { branchId: branch.id, reapplyConfirmation: phrase });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ workflowId: runId(branch), user: 'alice', source: 'api', reapplied: { by: 'operator', confirmation: phrase } });
    expect(Date.parse(res.body.reapplied.at)).not.toBeNaN();
    expect((await finished(res.body.id)).state).toBe('succeeded');

    // It has a job now: never a second run, deliberate or not.
    const again = await s.call(operatorToken, 'POST', '/api/v1/apply-jobs', { branchId: branch.id, reapplyConfirmation: phrase });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);
    expect(await (await hook(body)).json()).toMatchObject({ outcome: 'existing', job: { id: res.body.id } });
    expect(await jobsOf(branch.id)).toHaveLength(1);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('never runs a merge that has a job again, even after Temporal forgot its run (retention)', async () => {
    const { branch, vmid } = guestBranch();
    const body = await m.mergeUndelivered(s, branch.id);
    // What the namespace's retention leaves behind: our finished job, and no trace of its run in Temporal. (Deleting
    // a run in the dev server takes tens of seconds; a job whose run Temporal never saw is the same state, at once.)
    const [job] = await s.system.database.db.execute(sql`
      insert into apply_jobs (workflow_id, run_uuid, branch_id, branch_schema_id, branch_name, merged_at, username, source, state,
        workflow_started_at, started_at, finished_at)
      values (${runId(branch)}, ${runId(branch)}, ${branch.id}, ${branch.schemaId}, ${branch.name}, ${mergedAt(branch)}, 'alice', 'webhook',
        'succeeded', now() - interval '40 days', now() - interval '40 days', now() - interval '40 days')
      returning id`) as unknown as { id: string }[];
    await workflowGone(runId(branch));

    const replayed = await hook(body);
    expect(replayed.status).toBe(202);
    expect(await replayed.json()).toMatchObject({ outcome: 'existing', job: { id: job!.id } });
    const manual = await s.call(s.tokens.admin, 'POST', '/api/v1/apply-jobs', { branchId: branch.id });
    expect(manual.status).toBe(200);
    expect(manual.body).toMatchObject({ id: job!.id, state: 'succeeded' });
    const reconciled = await s.system.temporal.workflow.execute('ReconcilerWorkflow', {
      taskQueue: s.taskQueue, workflowId: `reconcile-guard-${seq}`, args: [{ lookbackHours: LOOKBACK_H }],
    }) as ReconcileResult;
    expect(reconciled.existing).toContainEqual({ branchId: branch.id, workflowId: runId(branch) });

    await workflowGone(runId(branch));
    expect(await jobsOf(branch.id)).toHaveLength(1);
    expect(appliesTo(vmid)).toHaveLength(0);
  });

  it('starts a job whose workflow never started (a crash between the row and the start) exactly once, from concurrent deliveries', async () => {
    const { branch, vmid } = guestBranch();
    const body = await m.mergeUndelivered(s, branch.id);
    // The row a process left when it died right after inserting it; its claim on the start has lapsed.
    await s.system.database.db.execute(sql`
      insert into apply_jobs (workflow_id, run_uuid, branch_id, branch_schema_id, branch_name, merged_at, username, source, start_claimed_at)
      values (${runId(branch)}, ${runId(branch)}, ${branch.id}, ${branch.schemaId}, ${branch.name}, ${mergedAt(branch)},
        'alice', 'webhook', now() - interval '5 minutes')`);

    const answers = await Promise.all(Array.from({ length: 4 }, async () => (await hook(body)).json() as Promise<any>));
    expect(answers.map((a) => a.outcome).sort()).toEqual(['existing', 'existing', 'existing', 'started']);
    expect(new Set(answers.map((a) => a.job.id)).size).toBe(1);
    expect((await finished(answers[0].job.id)).state).toBe('succeeded');
    expect(await (await hook(body)).json()).toMatchObject({ outcome: 'existing' });
    expect(await jobsOf(branch.id)).toHaveLength(1);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('takes who merged from NetBox, never from the webhook body; a body that disagrees is recorded and ignored', async () => {
    const { branch, vmid } = guestBranch();
    const body = JSON.parse(await m.mergeUndelivered(s, branch.id));
    const alicePk = body.data.merged_by;
    const lying = JSON.stringify({ ...body, username: 'admin', data: { ...body.data, merged_by: 1 } });
    const res = await hook(lying);
    expect(res.status).toBe(202);
    const started = await res.json() as any;
    const claim = `the webhook body claimed username "admin", user pk 1; NetBox says alice (pk ${alicePk})`;
    expect(started).toMatchObject({ outcome: 'started', job: { user: 'alice', claimedMergedBy: claim } });
    expect(logLines).toContainEqual(expect.objectContaining({ level: 'warn', msg: `merge ${runId(branch)} of branch ${branch.id}: ${claim}; the webhook's claim is ignored` }));
    expect(await finished(started.job.id)).toMatchObject({ state: 'succeeded', user: 'alice', claimedMergedBy: claim });
    expect(appliesTo(vmid)).toHaveLength(1);
    expect((appliesTo(vmid)[0]!.body as any).actor).toBe('alice');

    // The genuine body records nothing.
    const honest = guestBranch();
    const merged = await s.netbox.mergeBranch(honest.branch.id, 'alice');
    expect(JSON.parse(merged.deliveries[0]!.responseBody!).job).toMatchObject({ user: 'alice', claimedMergedBy: null });
  });
});
