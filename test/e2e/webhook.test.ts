import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { signWebhookBody } from '../../domain/webhook-signature';
import { MESSAGES } from '../../domain/messages';
import { DEMO, pythonJsonDumps } from '../../simulators/netbox';
import * as m from '../support/merges';
import { startStack, eventually, WEBHOOK_SECRET, type Stack } from '../support/stack';

describe('the signed merge hook: POST /api/v1/hooks/netbox', () => {
  let s: Stack;
  let seq = 0;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  /** A branch that creates one qemu guest with its own VMID. */
  const guestBranch = (opts: { optIn?: boolean } = {}) => { seq += 1; return m.guestBranch(s, `hook-${seq}`, 500 + seq, opts); };
  const mergeUndelivered = (branchId: number) => m.mergeUndelivered(s, branchId);

  function post(body: string | Uint8Array, signature: string | null = signWebhookBody(WEBHOOK_SECRET, body)) {
    return fetch(`${s.api}/api/v1/hooks/netbox`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-hook-signature': signature }) },
      body,
    });
  }

  const runId = (branch: { id: number; schemaId: string }) => m.currentRunId(s, branch);
  const jobsOf = (branchId: number) => m.jobsOfBranch(s, branchId);
  const appliesTo = (vmid: number) => m.appliesTo(s, vmid);
  const finished = (jobId: string) => m.finishedJob(s, jobId);
  /** Runs of a workflow id as the Temporal UI lists them (visibility lags a little behind the start). */
  function runsOf(workflowId: string): Promise<number> {
    return eventually(async () => {
      let n = 0;
      for await (const _ of s.system.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n += 1;
      return n > 0 ? n : undefined;
    }, `the runs of ${workflowId} in visibility`);
  }
  /** One job, one workflow run, finished `succeeded`, and one write of the VM reaching proxbox-api. */
  async function expectExactlyOneRun(branch: { id: number; schemaId: string }, vmid: number) {
    const jobs = await jobsOf(branch.id);
    expect(jobs).toHaveLength(1);
    expect((await finished(jobs[0].id)).state).toBe('succeeded');
    expect(await runsOf(runId(branch))).toBe(1);
    expect(appliesTo(vmid)).toHaveLength(1);
  }
  async function expectNothingStarted(branch: { id: number; schemaId: string }) {
    expect(await jobsOf(branch.id)).toEqual([]);
    await expect(s.system.temporal.workflow.getHandle(runId(branch)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  }

  it('refuses a missing, wrong, malformed or re-serialised signature with 401 and starts nothing; the exact bytes start the apply', async () => {
    const { branch, vmid } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    const reserialised = JSON.stringify(JSON.parse(body));
    expect(reserialised).not.toBe(body);

    const missing = await post(body, null);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 'signature_missing', status: 401 });
    for (const signature of [signWebhookBody('another-secret-0123456789', body), 'abc', signWebhookBody(WEBHOOK_SECRET, reserialised)]) {
      const res = await post(body, signature);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'signature_invalid', detail: 'X-Hook-Signature does not match the body.' });
    }
    // Signed over the original bytes but sent re-serialised: the receiver checks what it received.
    expect((await post(reserialised, signWebhookBody(WEBHOOK_SECRET, body))).status).toBe(401);
    await expectNothingStarted(branch);

    const ok = await post(body);
    expect(ok.status).toBe(202);
    const started = await ok.json() as any;
    expect(started).toMatchObject({ outcome: 'started', job: { workflowId: runId(branch), user: 'alice', branch: { id: branch.id, schemaId: branch.schemaId } } });
    expect((await finished(started.job.id)).state).toBe('succeeded');
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('ignores a merge of a branch that did not opt in: 202 with the reason, no job, no workflow', async () => {
    const { branch } = guestBranch({ optIn: false });
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries.map((d) => [d.status, JSON.parse(d.responseBody!)])).toEqual([[202, { ignored: MESSAGES.notOptedIn }]]);
    await expectNothingStarted(branch);
  });

  it('treats the webhook body as a hint: a branch opted out after its merge is not applied', async () => {
    const { branch } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    s.netbox.updateBranch(branch.id, { customFields: { apply_to_proxmox: false } });
    const res = await post(body);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ignored: MESSAGES.notOptedIn });
    await expectNothingStarted(branch);
  });

  it('ignores events other than branch_merged with 202 and the reason', async () => {
    const created = pythonJsonDumps({
      event: 'created', timestamp: '2026-07-24T14:03:12.514903+00:00', object_type: 'virtualization.virtualmachine',
      username: 'alice', request_id: '5e0b6a4c-49a7-4b35-a1e2-4b8f0a1c7e11', data: { id: 812, name: 'web-03' },
    });
    const res = await post(created);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ignored: "event 'created' is not branch_merged" });
  });

  it('answers 400 for signed bodies that are not JSON or not a branch_merged event', async () => {
    for (const [body, code, detail] of [
      // Not JSON: the same answer as on every other route.
      ['event=branch_merged', 'malformed_json', 'The request body is not valid UTF-8 JSON.'],
      ['[1, 2]', 'malformed_body', 'The webhook body is not a NetBox event'],
      [pythonJsonDumps({ event: 'branch_merged', timestamp: 'x', object_type: 'netbox_branching.branch', username: 'alice', data: { name: 'no-id' } }), 'malformed_body', 'The branch_merged body is invalid'],
    ] as const) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      const problem = await res.json() as any;
      expect(problem.code).toBe(code);
      expect(problem.detail).toContain(detail);
    }
    const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]);
    expect((await post(invalidUtf8)).status).toBe(400);
  });

  it('answers 413 for a body over the limit, announced or streamed', async () => {
    const big = pythonJsonDumps({ event: 'branch_merged', padding: 'x'.repeat(300 * 1024) });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'payload_too_large' });
    const chunks = [new TextEncoder().encode(big.slice(0, 200 * 1024)), new TextEncoder().encode(big.slice(200 * 1024))];
    const streamed = await fetch(`${s.api}/api/v1/hooks/netbox`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-hook-signature': signWebhookBody(WEBHOOK_SECRET, big) },
      body: new ReadableStream({ start(c) { for (const chunk of chunks) c.enqueue(chunk); c.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('accepts the NetBox 4.4 body (with "model") and the 4.5/4.6 body (without), for the same run', async () => {
    const { branch, vmid } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    const modern = JSON.parse(body);
    expect(modern).not.toHaveProperty('model');
    const { event, timestamp, object_type, ...rest } = modern;
    const legacy = pythonJsonDumps({ event, timestamp, object_type, model: 'branch', ...rest });
    const first = await post(legacy);
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ outcome: 'started', job: { workflowId: runId(branch) } });
    const second = await post(body);
    expect(await second.json()).toMatchObject({ outcome: 'existing', job: { workflowId: runId(branch) } });
    await finished((await jobsOf(branch.id))[0].id);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('applies a delivery that NetBox sends twice exactly once', async () => {
    const { branch, vmid } = guestBranch();
    s.netbox.duplicateNextDeliveries(1);
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries.map((d) => [d.status, d.duplicate])).toEqual([[202, false], [202, true]]);
    expect(merged.deliveries.map((d) => JSON.parse(d.responseBody!).outcome)).toEqual(['started', 'existing']);
    await expectExactlyOneRun(branch, vmid);
  });

  it('applies deliveries that arrive at the same moment exactly once', async () => {
    const { branch, vmid } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(body).then(async (r) => ({ status: r.status, body: await r.json() as any }))));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    expect(answers.map((a) => a.body.outcome).sort()).toEqual(['existing', 'existing', 'existing', 'started']);
    expect(new Set(answers.map((a) => a.body.job.id)).size).toBe(1);
    await expectExactlyOneRun(branch, vmid);
  });

  it('converges POST /api/v1/apply-jobs and the webhook on one run, whichever comes first', async () => {
    const { branch, vmid } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    const manual = await s.call(s.tokens.admin, 'POST', '/api/v1/apply-jobs', { branchId: branch.id });
    expect(manual.status).toBe(202);
    expect(manual.body).toMatchObject({ workflowId: runId(branch), user: 'alice' });
    const hook = await post(body);
    expect(await hook.json()).toMatchObject({ outcome: 'existing', job: { id: manual.body.id } });
    const again = await s.call(s.tokens.admin, 'POST', '/api/v1/apply-jobs', { branchId: branch.id });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(manual.body.id);
    await finished(manual.body.id);
    expect(await jobsOf(branch.id)).toHaveLength(1);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('gives each merge of a merged, reverted and re-merged branch its own apply; a late redelivery starts nothing', async () => {
    seq += 1;
    const branch = s.netbox.createBranch({ name: `remerge-${seq}`, owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.updateVm(branch.id, DEMO.vms.db01, { memory: 6144 });
    const first = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(first.deliveries[0]!.status).toBe(202);
    const firstId = runId(branch);
    const firstJob = await finished(JSON.parse(first.deliveries[0]!.responseBody!).job.id);
    expect(firstJob).toMatchObject({ state: 'succeeded', workflowId: firstId });

    s.netbox.revertBranch(branch.id, 'alice');
    const whileReverted = await post(first.deliveries[0]!.body);
    expect(whileReverted.status).toBe(202);
    expect(await whileReverted.json()).toEqual({ ignored: 'Branch is ready, not merged' });

    const second = await s.netbox.mergeBranch(branch.id, 'alice');
    const secondId = runId(branch);
    expect(secondId).not.toBe(firstId);
    const secondJob = await finished(JSON.parse(second.deliveries[0]!.responseBody!).job.id);
    expect(secondJob.workflowId).toBe(secondId);
    expect(secondJob.id).not.toBe(firstJob.id);

    const late = await post(first.deliveries[0]!.body);
    expect(await late.json()).toMatchObject({ outcome: 'existing', job: { id: secondJob.id } });
    const jobs = await jobsOf(branch.id);
    expect(jobs.map((j) => j.workflowId).sort()).toEqual([firstId, secondId].sort());
    expect(await runsOf(firstId)).toBe(1);
    expect(await runsOf(secondId)).toBe(1);
  });

  it('answers 502 and starts nothing when NetBox cannot confirm the merge; a later delivery starts it', async () => {
    const { branch } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    s.netbox.control.addFault({ method: 'GET', path: `^/api/plugins/branching/branches/${branch.id}/$`, mode: 'fail', status: 401, body: { detail: 'Invalid token' }, times: 1 });
    const refused = await post(body);
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({ code: 'netbox_unavailable', detail: expect.stringContaining('NetBox rejected the token (401)') });
    await expectNothingStarted(branch);
    const res = await post(body);
    expect(await res.json()).toMatchObject({ outcome: 'started' });
    await finished((await jobsOf(branch.id))[0].id);
  });

  it('ignores a merge whose branch was deleted since: its ChangeDiffs went with it', async () => {
    const { branch } = guestBranch();
    const body = await mergeUndelivered(branch.id);
    s.netbox.deleteBranch(branch.id);
    const res = await post(body);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ignored: `Branch ${branch.id} no longer exists in NetBox` });
    expect(await jobsOf(branch.id)).toEqual([]);
  });
});
