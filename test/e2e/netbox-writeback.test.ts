import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { DEMO, type JournalEntryRecord } from '../../simulators/netbox';
import { requestDeletion, settled } from '../support/deletion-requests';
import { guestBranch, jobsOfBranch, mergeAndWait } from '../support/merges';
import { eventually, startStack, type Stack } from '../support/stack';
import { reconcilerScheduleId } from '../../services/reconciler-schedule';

const PUBLIC_URL = 'https://intent.example.test';
const JOURNAL = '/api/extras/journal-entries/';
const VM_TYPE = 'virtualization.virtualmachine';
const BRANCH_TYPE = 'netbox_branching.branch';

// Each test may wait up to 90 s for its write-back to settle (settledWriteback); the test timeout leaves room for it.
describe('results written back to NetBox (journal entries and stamps, netbox.md §7.6)', { timeout: 150_000 }, () => {
  let s: Stack;
  let sql: postgres.Sql;
  let seq = 0;
  beforeAll(async () => {
    s = await startStack({ env: { PUBLIC_URL } });
    sql = postgres(s.databaseUrl, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => { await sql?.end(); await s?.stop(); });
  beforeEach(() => { s.netbox.control.clearFaults(); });

  const entriesOn = (type: string, id: number): JournalEntryRecord[] =>
    [...s.netbox.journal.values()].filter((e) => e.objectType === type && e.objectId === id).sort((a, b) => a.id - b.id);
  const mainVm = (name: string) => s.netbox.view(null).list('vm').find((v) => v.data.name === name)!;
  const jobWriteback = async (id: string) => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body.netboxWriteback;
  const requestWriteback = async (id: number) => (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${id}`)).body.netboxWriteback;
  const settledWriteback = (read: () => Promise<any>, what: string) => eventually(async () => {
    const w = await read();
    return w && w.pending === 0 ? w : undefined;
  }, `the NetBox write-back of ${what}`, 90_000);

  /** A branch creating two qemu guests: one that applies, one whose VMID is taken on the cluster (blocked before sending). */
  function twoGuests() {
    seq += 1;
    const base = 3000 + seq * 10;
    const { branch } = guestBranch(s, `wb-${seq}`, base, { vmName: `wb-${seq}-ok` });
    s.netbox.createVm(branch.id, {
      name: `wb-${seq}-taken`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: base + 1, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
    });
    s.proxbox.cluster.addGuest({ endpointId: 1, vmid: base + 1, node: 'pve01', type: 'qemu', name: 'someone-else', status: 'stopped', cores: 1, memory: 512 });
    return { branch, ok: `wb-${seq}-ok`, taken: `wb-${seq}-taken` };
  }

  it('writes exactly one entry per VM, the summary on the branch and the stamps; the deletion lifecycle on the branch', async () => {
    const { branch, ok, taken } = twoGuests();
    const job = await mergeAndWait(s, branch.id);
    expect(job.state, JSON.stringify(job.perVmResults)).toBe('partial');
    const w = await settledWriteback(() => jobWriteback(job.id), `job ${job.id}`);
    expect(w).toEqual({ pending: 0, delivered: 5, failed: 0, skipped: 0, lastError: null });

    const jobLink = `${PUBLIC_URL}/ui/apply-jobs/${job.id}`;
    const okVm = mainVm(ok);
    const takenVm = mainVm(taken);
    const [onOk, onTaken, onBranch] = [entriesOn(VM_TYPE, okVm.pk), entriesOn(VM_TYPE, takenVm.pk), entriesOn(BRANCH_TYPE, branch.id)];
    expect(onOk.map((e) => e.kind)).toEqual(['success']);
    expect(onOk[0]!.comments).toContain('applied to Proxmox');
    expect(onOk[0]!.comments).toContain(jobLink);
    const takenResult = Object.values(job.perVmResults as Record<string, any>).find((r) => r.name === taken);
    expect(onTaken).toHaveLength(1);
    expect(['warning', 'danger']).toContain(onTaken[0]!.kind);
    expect(onTaken[0]!.comments).toContain(takenResult.reason.replace(/_/g, '\\_'));
    expect(onTaken[0]!.comments).toContain(jobLink);
    expect(onBranch.map((e) => e.kind)).toEqual(['warning']);
    expect(onBranch[0]!.comments).toContain('apply partial');
    expect(onBranch[0]!.comments).toContain(jobLink);
    // Written to main, by the service's token, each once.
    const posts = s.netbox.control.callsTo('POST', JOURNAL).filter((c) => [okVm.pk, takenVm.pk, branch.id].includes((c.body as any).assigned_object_id));
    expect(posts.every((c) => c.headers['x-netbox-branch'] === undefined)).toBe(true);
    expect(okVm.data.custom_fields).toMatchObject({ proxbox_intent_state: 'applied', proxbox_last_apply_run_id: job.id });
    expect(takenVm.data.custom_fields).toMatchObject({ proxbox_intent_state: 'failed', proxbox_last_apply_run_id: job.id });

    // A delete: requested, then approved and destroyed, each once on the branch (the VM is gone from NetBox).
    const { request, branchId } = await requestDeletion(s, { vmid: 3900 + seq, name: `wb-del-${seq}`, node: 'pve01', kind: 'qemu' });
    const approved = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: request.vmid });
    expect(approved.status).toBe(200);
    expect((await settled(s, request.id)).state).toBe('succeeded');
    expect(await settledWriteback(() => requestWriteback(request.id), `request ${request.id}`))
      .toEqual({ pending: 0, delivered: 3, failed: 0, skipped: 0, lastError: null });
    const deleteJob = (await jobsOfBranch(s, branchId))[0];
    await settledWriteback(() => jobWriteback(deleteJob.id), `job ${deleteJob.id}`);
    const lifecycle = entriesOn(BRANCH_TYPE, branchId);
    const headline = (e: JournalEntryRecord) => `${e.kind}: ${e.comments.match(/\*\*proxbox-intent: ([^*]+)\*\*/)![1]}`;
    expect(lifecycle.map(headline).sort()).toEqual([
      'info: deletion approved', 'success: apply succeeded', 'success: destroyed in Proxmox', 'warning: deletion requested, waiting for approval',
    ]);
    expect(lifecycle).toHaveLength(4);
    for (const e of lifecycle.filter((x) => !x.comments.includes('apply succeeded'))) {
      expect(e.comments).toContain(`${PUBLIC_URL}/ui/deletion-requests/${request.id}`);
    }
  });

  it('a rejection is one warning entry on the branch with the approver and the reason, shown as text', async () => {
    seq += 1;
    const { request, branchId } = await requestDeletion(s, { vmid: 3950 + seq, name: `wb-rej-${seq}`, node: 'pve01', kind: 'qemu' });
    const rejected = await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/reject`, { reason: 'still <b>needed</b> by [ops](http://x)' });
    expect(rejected.status).toBe(200);
    await settledWriteback(() => requestWriteback(request.id), `request ${request.id}`);
    const onBranch = entriesOn(BRANCH_TYPE, branchId).filter((e) => e.comments.includes('deletion rejected'));
    expect(onBranch).toHaveLength(1);
    expect(onBranch[0]!.kind).toBe('warning');
    expect(onBranch[0]!.comments).toContain('Rejected by bob: still \\<b\\>needed\\</b\\> by \\[ops\\]\\(http://x\\)');
    expect(await requestWriteback(request.id)).toEqual({ pending: 0, delivered: 2, failed: 0, skipped: 0, lastError: null });
  });

  it('a deletion that fails is one danger entry on the branch with its reason code and the operator\'s next step', async () => {
    seq += 1;
    const { request, branchId } = await requestDeletion(s, { vmid: 3970 + seq, name: `wb-fail-${seq}`, node: 'pve01', kind: 'qemu' });
    s.proxbox.capabilities.registerDeletion = false;
    try {
      expect((await s.call(s.tokens.bob, 'POST', `/api/v1/deletion-requests/${request.id}/approve`, { vmid: request.vmid })).status).toBe(200);
      expect((await settled(s, request.id)).reasonCode).toBe('backend_cannot_register_deletion');
    } finally {
      s.proxbox.capabilities.registerDeletion = true;
    }
    expect(await settledWriteback(() => requestWriteback(request.id), `request ${request.id}`))
      .toEqual({ pending: 0, delivered: 3, failed: 0, skipped: 0, lastError: null });
    const failed = entriesOn(BRANCH_TYPE, branchId).filter((e) => e.kind === 'danger');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.comments).toContain('deletion failed');
    expect(failed[0]!.comments).toContain('backend\\_cannot\\_register\\_deletion');
    expect(failed[0]!.comments).toContain('Destroy it manually');
  });

  it('an answer lost after NetBox created the entry is not posted again: the retry finds it by its marker', async () => {
    const { branch, ok } = twoGuests();
    s.netbox.control.addFault({ method: 'POST', path: `^${JOURNAL}$`, mode: 'fail', phase: 'after', status: 502, times: 1 });
    const job = await mergeAndWait(s, branch.id);
    const w = await settledWriteback(() => jobWriteback(job.id), `job ${job.id}`);
    expect(w).toMatchObject({ pending: 0, delivered: 5, failed: 0 });
    const all = [...entriesOn(VM_TYPE, mainVm(ok).pk), ...entriesOn(VM_TYPE, mainVm(`wb-${seq}-taken`).pk), ...entriesOn(BRANCH_TYPE, branch.id)];
    expect(all).toHaveLength(3);
    const rows = await sql`select attempts from deliveries where subject_id = ${job.id} and channel = 'netbox_journal' order by id`;
    expect(rows.map((r) => r.attempts).sort()).toEqual([1, 1, 2]);
    // The second attempt looked before posting.
    expect(s.netbox.control.callsTo('GET', JOURNAL).length).toBeGreaterThan(0);
  });

  it('a worker lost while NetBox was creating the entry: the next worker delivers it once', async () => {
    const { branch, ok } = twoGuests();
    // NetBox holds the first journal POST; the worker is stopped meanwhile (its call is aborted) and NetBox then creates it.
    s.netbox.control.addFault({ method: 'POST', path: `^${JOURNAL}$`, mode: 'slow', delayMs: 4000, times: 1 });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const jobId = await eventually(async () => (await jobsOfBranch(s, branch.id))[0]?.id as string | undefined, 'the job');
    await eventually(async () => (s.netbox.control.callsTo('POST', JOURNAL).some((c) => (c.body as any).comments.includes(jobId)) ? true : undefined), 'the first POST');
    await s.restart();
    const w = await settledWriteback(() => jobWriteback(jobId), `job ${jobId}`);
    expect(w).toMatchObject({ pending: 0, delivered: 5, failed: 0 });
    const retried = await sql`select id from deliveries where subject_id = ${jobId} and channel = 'netbox_journal' and attempts > 1`;
    expect(retried).toHaveLength(1);
    const all = [...entriesOn(VM_TYPE, mainVm(ok).pk), ...entriesOn(VM_TYPE, mainVm(`wb-${seq}-taken`).pk), ...entriesOn(BRANCH_TYPE, branch.id)];
    expect(all).toHaveLength(3);
  });

  it('NetBox refusing journal entries never delays the job; the refusal shows on the job, is not retried for ever, and stamps still land', async () => {
    const { branch, ok } = twoGuests();
    s.netbox.control.addFault({ method: 'POST', path: `^${JOURNAL}$`, mode: 'fail', status: 403, body: { detail: 'You do not have permission to perform this action.' } });
    const job = await mergeAndWait(s, branch.id);
    expect(job.state).toBe('partial');
    const w = await settledWriteback(() => jobWriteback(job.id), `job ${job.id}`);
    expect(w).toMatchObject({ pending: 0, delivered: 2, failed: 3 });
    expect(w.lastError).toMatch(/403.*extras\.journalentry/);
    expect(mainVm(ok).data.custom_fields).toMatchObject({ proxbox_intent_state: 'applied' });
    const rows = await sql`select attempts, status from deliveries where subject_id = ${job.id} and channel = 'netbox_journal'`;
    expect(rows.map((r) => [r.status, r.attempts])).toEqual([['failed', 1], ['failed', 1], ['failed', 1]]);
  });

  it('a fact whose delivery was never started (its NOTIFY lost) is delivered by the reconciler\'s sweep', async () => {
    const branch = s.netbox.createBranch({ name: 'wb-swept' });
    const event = { type: 'job_summary', jobId: 'swept-job', branchId: branch.id, branchName: 'wb-swept', mergedBy: null, state: 'succeeded', error: null, counts: {} };
    await sql`insert into deliveries (subject_type, subject_id, channel, dedupe_key, event, next_attempt_at)
      values ('apply_job', 'swept-job', 'netbox_journal', 'apply_job:swept-job:summary', ${sql.json(event)}, now() - interval '2 minutes')`;
    await s.system.temporal.schedule.getHandle(reconcilerScheduleId(s.taskQueue)).trigger();
    const row = await eventually(async () => {
      const [r] = await sql`select status, attempts from deliveries where dedupe_key = 'apply_job:swept-job:summary'`;
      return r?.status === 'pending' ? undefined : r;
    }, 'the swept delivery', 60_000);
    expect(row).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(entriesOn(BRANCH_TYPE, branch.id)).toHaveLength(1);
  });

  it('NetBox down: the job closes at once, the write-back waits and is delivered once NetBox is back; missing stamp fields are skipped', async () => {
    s.netbox.removeCustomField('proxbox_intent_state');
    s.netbox.removeCustomField('proxbox_last_apply_run_id');
    const { branch } = twoGuests();
    s.netbox.control.addFault({ method: 'POST', path: `^${JOURNAL}$`, mode: 'fail', status: 503 });
    const job = await mergeAndWait(s, branch.id);
    const pending = await eventually(async () => {
      const w = await jobWriteback(job.id);
      return w.lastError ? w : undefined;
    }, 'the first failed attempt');
    expect(pending.pending).toBeGreaterThan(0);
    expect(pending.lastError).toMatch(/503/);
    s.netbox.control.clearFaults();
    const w = await settledWriteback(() => jobWriteback(job.id), `job ${job.id}`);
    expect(w).toMatchObject({ pending: 0, delivered: 3, skipped: 2, failed: 0, lastError: null });
    expect(entriesOn(BRANCH_TYPE, branch.id)).toHaveLength(1);
  });
});
