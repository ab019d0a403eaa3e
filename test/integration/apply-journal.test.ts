import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client';
import { APPLY_EVENTS_CHANNEL, ApplyJobStore, type VmResult } from '../../db/apply-jobs';
import { databaseErrorCode, isRowError } from '../../db/errors';
import { createFreshDatabase } from '../support/database';
import { eventually } from '../support/eventually';

const result = (key: string, status: VmResult['status'], message = ''): VmResult => ({
  key, vmid: 100, netboxId: 1, name: key, op: 'create', kind: 'qemu', status, reason: null, message,
  proxmoxUpid: null, deletionRequestId: null,
});

describe('the apply journal (results and live-log events) on PostgreSQL', () => {
  let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
  let database: Database;
  let jobs: ApplyJobStore;
  let jobId: string;
  const heard: string[] = [];

  beforeAll(async () => {
    fresh = await createFreshDatabase('proxbox_journal');
    database = await openDatabase({ url: fresh.url });
    jobs = new ApplyJobStore(database.db);
    await database.listen(APPLY_EVENTS_CHANNEL, (payload) => heard.push(payload));
    ({ job: { id: jobId } } = await jobs.ensure({
      workflowId: 'apply-journal-test', branchId: 1, branchSchemaId: 'abc123', branchName: 'b', mergedAt: new Date(), username: 'alice', source: 'api',
    }));
  });
  afterAll(async () => {
    await database.close();
    await fresh.drop();
  });

  it('writes concurrent outcomes and events in submission order, announcing each event once it is committed', async () => {
    const before = heard.length;
    await Promise.all([
      jobs.appendEvent(jobId, 'dispatch', { key: 'vm-1' }, 'dispatch:vm-1'),
      jobs.recordOutcome(jobId, result('vm-1', 'succeeded', 'created')),
      jobs.appendEvent(jobId, 'dispatch', { key: 'vm-2' }, 'dispatch:vm-2'),
      jobs.recordOutcome(jobId, result('vm-2', 'failed', 'rejected')),
    ]);
    const events = await jobs.eventsAfter(jobId, 0);
    expect(events.map((e) => [e.type, e.dedupeKey])).toEqual([
      ['dispatch', 'dispatch:vm-1'], ['result', 'result:vm-1:succeeded'], ['dispatch', 'dispatch:vm-2'], ['result', 'result:vm-2:failed'],
    ]);
    expect((await jobs.results(jobId)).map((r) => [r.key, r.status, r.message])).toEqual([['vm-1', 'succeeded', 'created'], ['vm-2', 'failed', 'rejected']]);
    await eventually(async () => (heard.length - before === 4 ? true : undefined), 'four NOTIFYs');
    expect(heard.slice(before)).toEqual(events.map((e) => `${jobId}:${e.id}`));
  });

  it('keeps the last outcome when one VM is recorded twice in one batch, and never repeats an event', async () => {
    await Promise.all([
      jobs.recordOutcome(jobId, result('vm-3', 'accepted', 'first')),
      jobs.recordOutcome(jobId, result('vm-3', 'succeeded', 'second')),
      jobs.recordOutcome(jobId, result('vm-3', 'succeeded', 'second')),
    ]);
    const vm3 = (await jobs.results(jobId)).find((r) => r.key === 'vm-3');
    expect([vm3?.status, vm3?.message]).toEqual(['succeeded', 'second']);
    const keys = (await jobs.eventsAfter(jobId, 0)).map((e) => e.dedupeKey).filter((k) => k?.startsWith('result:vm-3'));
    expect(keys).toEqual(['result:vm-3:accepted', 'result:vm-3:succeeded']);
  });

  it('fails only the entry whose job does not exist; the others of its batch are written', async () => {
    const unknownJob = '00000000-0000-4000-8000-000000000000';
    const settled = await Promise.allSettled([
      jobs.recordOutcome(jobId, result('vm-4', 'succeeded')),
      jobs.recordOutcome(unknownJob, result('vm-x', 'succeeded')),
      jobs.appendEvent(jobId, 'log', { level: 'info', message: 'still here' }, 'log:still-here'),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await jobs.results(jobId)).some((r) => r.key === 'vm-4')).toBe(true);
    expect((await jobs.eventsAfter(jobId, 0)).some((e) => e.dedupeKey === 'log:still-here')).toBe(true);
  });
});

describe('database error codes', () => {
  it('reads the SQLSTATE on the error or on the cause drizzle wraps it in, and tells row errors apart', () => {
    const fk = Object.assign(new Error('violates foreign key constraint'), { code: '23503' });
    expect(databaseErrorCode(fk)).toBe('23503');
    expect(databaseErrorCode(new Error('Failed query', { cause: fk }))).toBe('23503');
    expect(isRowError(new Error('Failed query', { cause: fk }))).toBe(true);
    expect(isRowError(Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }))).toBe(false);
    expect(databaseErrorCode('not an error')).toBeNull();
  });
});
