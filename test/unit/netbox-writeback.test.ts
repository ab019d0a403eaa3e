import { describe, expect, it } from 'vitest';
import {
  applyJobWritebacks, carriesDeliveryMarker, deletionWriteback, isPermanentNetboxFailure, journalEntryOf, markdownText, stampOf,
  withDeliveryMarker, type ClosedJob, type DeletionFacts, type VmResultFacts, type WritebackEvent,
} from '../../domain/netbox-writeback';
import { deliveryRetryDelayMs as writebackRetryDelayMs } from '../../domain/deliveries';
import { withoutSecrets } from '../../domain/secret-text';

const job: ClosedJob = { id: 'job-1', branchId: 42, branchName: 'add-web', username: 'alice', state: 'partial', error: null };
const vm = (over: Partial<VmResultFacts>): VmResultFacts => ({
  key: 'vm-7', netboxId: 7, name: 'web-01', op: 'create', kind: 'qemu', vmid: 301, status: 'succeeded', reason: null, message: 'created', ...over,
});
const links = { publicUrl: 'https://intent.example/' };
type Journaled = Exclude<WritebackEvent, { type: 'vm_stamp' }>;

describe('applyJobWritebacks', () => {
  it('one entry and one stamp per existing VM, an entry on the branch for a deleted one, the summary, and nothing for a requested deletion', () => {
    const out = applyJobWritebacks(job, [
      vm({}), vm({ key: 'vm-8', netboxId: 8, status: 'failed', reason: 'vmid_in_use' }),
      vm({ key: 'vm-9', netboxId: 9, op: 'delete', status: 'blocked', reason: 'destroy_not_confirmed' }),
      vm({ key: 'vm-10', netboxId: 10, op: 'delete', status: 'deletion_requested' }),
    ]);
    expect(out.map((d) => d.dedupeKey)).toEqual([
      'apply_job:job-1:vm:vm-7', 'apply_job:job-1:stamp:vm-7', 'apply_job:job-1:vm:vm-8', 'apply_job:job-1:stamp:vm-8',
      'apply_job:job-1:vm:vm-9', 'apply_job:job-1:summary',
    ]);
    expect(out.filter((d) => d.event.type === 'vm_stamp').map((d) => (d.event as { intentState: string }).intentState)).toEqual(['applied', 'failed']);
    const summary = out.at(-1)!.event as Extract<WritebackEvent, { type: 'job_summary' }>;
    expect(summary.counts).toEqual({ succeeded: 1, failed: 1, blocked: 1, deletion_requested: 1 });
    const deleted = journalEntryOf(out[4]!.event as Journaled, links);
    expect(deleted).toMatchObject({ objectType: 'netbox_branching.branch', objectId: 42, kind: 'warning' });
  });
});

describe('journalEntryOf', () => {
  const entry = (over: Partial<VmResultFacts>) => journalEntryOf({ type: 'vm_outcome', jobId: 'job-1', branchId: 42, branchName: 'add-web', mergedBy: 'alice', vm: vm(over) }, links);

  it('puts an outcome on its VM with a kind that fits and a link to the job page', () => {
    expect(entry({})).toMatchObject({ objectType: 'virtualization.virtualmachine', objectId: 7, kind: 'success' });
    expect(entry({}).comments).toContain('[Apply job job-1](https://intent.example/ui/apply-jobs/job-1)');
    expect(entry({ status: 'skipped' }).kind).toBe('info');
    expect(entry({ status: 'blocked', reason: 'writes_disabled_for_endpoint' }).kind).toBe('warning');
    const failed = entry({ status: 'failed', reason: 'vmid_in_use', message: 'VMID 301 is in use' });
    expect(failed.kind).toBe('danger');
    expect(failed.comments).toContain('Reason: vmid\\_in\\_use');
    expect(entry({ status: 'unknown' }).kind).toBe('danger');
  });

  it('names the API path when no PUBLIC_URL is configured', () => {
    const e = journalEntryOf({ type: 'job_summary', jobId: 'job-1', branchId: 42, branchName: 'b', mergedBy: null, state: 'failed', error: 'boom', counts: {} }, { publicUrl: null });
    expect(e).toMatchObject({ objectType: 'netbox_branching.branch', objectId: 42, kind: 'danger' });
    expect(e.comments).toContain('`/api/v1/apply-jobs/job-1`');
    expect(e.comments).toContain('No VM or container changes');
  });

  it('writes each deletion transition on the branch with a link to the request', () => {
    const row: DeletionFacts = {
      id: 5, state: 'pending', branchId: 42, branchName: 'retire', vmid: 190, name: 'cache-01', kind: 'lxc', node: 'pve02',
      requestedBy: 'alice', authorizer: null, reason: null, reasonCode: null, expiresAt: new Date('2026-08-01T00:00:00Z'),
    };
    const kinds = (['pending', 'approved', 'rejected', 'expired', 'succeeded', 'failed'] as const).map((state) => {
      const d = deletionWriteback({ ...row, state, authorizer: 'bob', reason: state === 'rejected' ? 'not yet' : null })!;
      const e = journalEntryOf(d.event as Journaled, links);
      expect(e.comments).toContain('https://intent.example/ui/deletion-requests/5');
      expect(e.objectType).toBe('netbox_branching.branch');
      return [d.dedupeKey, e.kind];
    });
    expect(kinds).toEqual([
      ['deletion_request:5:requested', 'warning'], ['deletion_request:5:approved', 'info'], ['deletion_request:5:rejected', 'warning'],
      ['deletion_request:5:expired', 'warning'], ['deletion_request:5:destroyed', 'success'], ['deletion_request:5:failed', 'danger'],
    ]);
    expect(deletionWriteback({ ...row, state: 'executing' })).toBeNull();
  });

  it('never carries a secret, and shows outside text as text', () => {
    const e = entry({ status: 'failed', message: 'proxbox said: password: hunter2, Authorization: Bearer abcdef123456, key nbt_abc.def' });
    expect(e.comments).not.toMatch(/hunter2|abcdef123456|nbt_abc/);
    expect(withoutSecrets('cipassword=s3cret token=xyz')).toBe('cipassword=[redacted] token=[redacted]');
    expect(markdownText('<script>[x](http://evil)</script>\nnext')).toBe('\\<script\\>\\[x\\]\\(http://evil\\)\\</script\\> next');
  });
});

describe('delivery', () => {
  it('stamps only the custom fields that exist', () => {
    const stamp = { type: 'vm_stamp' as const, jobId: 'job-1', netboxId: 7, intentState: 'applied' as const };
    expect(stampOf(stamp, new Set(['proxbox_intent_state', 'proxbox_last_apply_run_id']))).toEqual({ proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'job-1' });
    expect(stampOf(stamp, new Set(['proxbox_intent_state']))).toEqual({ proxbox_intent_state: 'applied' });
    expect(stampOf(stamp, new Set())).toBeNull();
  });

  it('marks an entry so that a retry finds it, and no other', () => {
    const text = withDeliveryMarker('hello', 12);
    expect(carriesDeliveryMarker(text, 12)).toBe(true);
    expect(carriesDeliveryMarker(text, 1)).toBe(false);
    expect(carriesDeliveryMarker(withDeliveryMarker('x', 120), 12)).toBe(false);
  });

  it('retries transient failures with a growing wait and gives up at once on refusals', () => {
    expect([1, 2, 3, 30].map(writebackRetryDelayMs)).toEqual([5_000, 10_000, 20_000, 600_000]);
    expect(['forbidden', 'unauthorized', 'rejected', 'not_found'].every(isPermanentNetboxFailure)).toBe(true);
    expect(['server_error', 'timeout', 'unreachable', 'throttled'].some(isPermanentNetboxFailure)).toBe(false);
  });
});
