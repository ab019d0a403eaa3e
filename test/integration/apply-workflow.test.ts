import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { ApplyActivities } from '../../activities/apply';
import { ApplyWorkflow } from '../../workflows/apply';
import { applyStateQuery, cancelRequestedSignal } from '../../workflows/definitions';
import type { ApplyWorkList, ItemOutcome, UnsettledItem, WorkItem, WorkPage } from '../../workflows/types';
import { eventually } from '../support/eventually';
import { startWorkflowEnvironment, withWorker } from '../support/workflow-environment';

/**
 * The ApplyWorkflow's cancel and failure paths on their own (test/support/workflow-environment.ts): the real
 * workflow bundle and mocked activities that record what the workflow asked for. A "held" write has been sent: its
 * mock answers only when the test releases it and never looks at cancellation, as proxbox-api finishing a task would.
 */
let env: TestWorkflowEnvironment;
beforeAll(async () => { env = await startWorkflowEnvironment(); });
afterAll(async () => { await env?.teardown(); });

const JOB = 'job-0001';

interface Gate<T> { promise: Promise<T>; open: (v: T) => void }
function gate<T = void>(): Gate<T> {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => { open = r; });
  return { promise, open };
}

const create = (key: string, vmid: number): WorkItem => ({
  key, changeDiffId: vmid, netboxId: vmid, name: `vm-${vmid}`, op: 'create', kind: 'qemu', clusterId: 1, payload: null, deletion: null,
  vmid, node: 'pve01', endpointId: 1, backendEndpointId: 1,
});
const identity = ({ key, vmid, netboxId, name, op, kind, node }: WorkItem): UnsettledItem => ({ key, vmid, netboxId, name, op, kind, node });

/** A plan as `loadApplyPlan` answers it, and the work list its mocked store holds. */
type MockPlan = ApplyWorkList & { items?: WorkItem[] };
const planOf = (items: WorkItem[], maxConcurrency: number, itemsPerRun?: number): MockPlan => ({
  run: { jobId: JOB, branchId: 3, schemaId: 'br3', mergedTimeMs: 1_700_000_000_000, username: 'alice', maxConcurrency, ...(itemsPerRun ? { itemsPerRun } : {}) },
  branchName: 'add-five-vms', abort: null, planned: items.length, recorded: 0, vmids: items.map((i) => i.vmid), items,
});

type Call = [name: string, ...args: unknown[]];

/**
 * The apply activities: `loadApplyPlan` answers `plan` and `nextApplyItems` pages through its items (positions from
 * 1); writes of the `held` keys wait for the test, the others succeed at once; `recordUnsettledItems` waits for
 * `unsettledGate` when one is given.
 */
function mockActivities(plan: () => Promise<MockPlan>, opts: { held?: string[]; unsettledGate?: Promise<void> } = {}) {
  const calls: Call[] = [];
  const held = new Map((opts.held ?? []).map((k) => [k, { sent: gate(), answer: gate<ItemOutcome>() }]));
  let list: WorkItem[] = [];
  const activities = {
    async loadApplyPlan(input: { jobId: string }, firstRunId: string) {
      calls.push(['loadApplyPlan', input.jobId, firstRunId]);
      const p = await plan();
      list = p.items ?? [];
      return p;
    },
    async resumeApplyRun(input: { jobId: string }, firstRunId: string) {
      calls.push(['resumeApplyRun', input.jobId, firstRunId]);
      const p = await plan();
      return { run: p.run, branchName: p.branchName, refused: null };
    },
    async nextApplyItems(args: { afterSeq: number; limit: number }): Promise<WorkPage> {
      calls.push(['nextApplyItems', args.afterSeq]);
      return { items: list.map((item, i) => ({ seq: i + 1, item })).filter((x) => x.seq > args.afterSeq).slice(0, args.limit) };
    },
    async applyGuestChange(item: WorkItem): Promise<ItemOutcome> {
      calls.push(['applyGuestChange', item.key]);
      const hold = held.get(item.key);
      const outcome = hold ? (hold.sent.open(), await hold.answer.promise) : { key: item.key, status: 'succeeded', message: 'created' };
      calls.push(['applyGuestChange returned', item.key]);
      return outcome;
    },
    async recordItemFailure(item: WorkItem, _ctx: unknown, message: string): Promise<ItemOutcome> {
      calls.push(['recordItemFailure', item.key, message]);
      return { key: item.key, status: 'failed', message };
    },
    async verifyDrift(ctx: { jobId: string }) { calls.push(['verifyDrift', ctx.jobId]); return { checked: 0, drifted: 0, unverified: 0 }; },
    async finishApplyJob(args: unknown) { calls.push(['finishApplyJob', args]); return { state: 'succeeded' }; },
    async recordUnsettledItems(args: unknown) { calls.push(['recordUnsettledItems', args]); await opts.unsettledGate; },
    async recordApplyCancellation(args: unknown) { calls.push(['recordApplyCancellation', args]); return { pendingDeletionRequestIds: [] }; },
    async requestDeletion(item: WorkItem) { calls.push(['requestDeletion', item.key]); return null; },
  } as unknown as ApplyActivities;
  const hold = (key: string) => held.get(key)!;
  return {
    activities, calls,
    names: () => calls.map((c) => c[0]),
    argsOf: (name: string) => calls.filter((c) => c[0] === name).map((c) => c[1]),
    sent: (key: string) => hold(key).sent.promise,
    answer: (key: string, status: string) => hold(key).answer.open({ key, status, message: `${status} by proxbox-api` }),
  };
}

type ApplyHandle = WorkflowHandleWithFirstExecutionRunId<typeof ApplyWorkflow>;

async function run<T>(activities: ApplyActivities, body: (h: ApplyHandle) => Promise<T>): Promise<T> {
  return withWorker(env, 'apply-wf', activities, async (taskQueue) => body(await env.client.workflow.start(ApplyWorkflow, {
    taskQueue, workflowId: `apply-wf-test-${taskQueue}`, args: [{ jobId: JOB }],
  })));
}

/** How the run ended, as the client and the server see it. */
async function ending(h: ApplyHandle) {
  const error = await h.result().then(() => null, (e: unknown) => e);
  return { error, status: (await h.describe()).status.name };
}

const FIVE = ['a', 'b', 'c', 'd', 'e'].map((k, i) => create(k, 101 + i));

describe('ApplyWorkflow with mocked activities', () => {
  it('graceful cancel: dispatches nothing more, waits for the writes already sent and keeps their results', async () => {
    const m = mockActivities(async () => planOf(FIVE, 2), { held: ['a', 'b'] });
    const { end, state, firstRunId } = await run(m.activities, async (h) => {
      await Promise.all([m.sent('a'), m.sent('b')]);
      // As the API cancels: who, then the cancellation itself.
      await h.signal(cancelRequestedSignal, { by: 'carol' });
      await h.cancel();
      await eventually(async () => ((await h.query(applyStateQuery)).phase === 'cancelling' ? true : undefined), 'the run to stop dispatching');
      m.answer('a', 'succeeded');
      m.answer('b', 'failed');
      const end = await ending(h);
      return { end, state: await h.query(applyStateQuery), firstRunId: h.firstExecutionRunId };
    });
    expect(end.status).toBe('CANCELLED');
    expect(end.error).toBeInstanceOf(WorkflowFailedError);
    expect((end.error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // Only the two writes sent before the cancel ever started; their answers came before anything was recorded.
    expect(m.names()).toEqual(['loadApplyPlan', 'nextApplyItems', 'applyGuestChange', 'applyGuestChange', 'applyGuestChange returned', 'applyGuestChange returned',
      'recordUnsettledItems', 'recordApplyCancellation']);
    expect(m.argsOf('applyGuestChange')).toEqual(['a', 'b']);
    expect(state.outcomes).toEqual({ a: 'succeeded', b: 'failed' });
    expect(state.phase).toBe('cancelled');
    // The items never sent (c, d, e) are found in the work list by the activity: nothing lists them in a payload.
    expect(m.argsOf('recordUnsettledItems')).toEqual([{ jobId: JOB, by: 'carol', abandoned: [] }]);
    expect(m.argsOf('recordApplyCancellation')).toEqual([{ jobId: JOB, firstRunId, by: 'carol' }]);
    expect(m.names()).not.toContain('finishApplyJob');
  });

  it('forced cancel: stops waiting for the writes in flight and records them as abandoned', async () => {
    const cancelSent = gate();
    const m = mockActivities(async () => planOf(FIVE, 2), { held: ['a', 'b'], unsettledGate: cancelSent.promise });
    const { end, state, returnedBeforeEnd } = await run(m.activities, async (h) => {
      await Promise.all([m.sent('a'), m.sent('b')]);
      // As the API forces: the signal, then the cancellation (which the run sees before it closes).
      await h.signal(cancelRequestedSignal, { by: 'dave', force: true });
      await h.cancel();
      cancelSent.open();
      const end = await ending(h);
      const returnedBeforeEnd = m.argsOf('applyGuestChange returned');
      const state = await h.query(applyStateQuery);
      // Let the held writes finish so the worker can shut down; the run is already closed.
      m.answer('a', 'succeeded');
      m.answer('b', 'succeeded');
      return { end, state, returnedBeforeEnd };
    });
    expect(end.status).toBe('CANCELLED');
    expect((end.error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // The run closed while both writes were still held.
    expect(returnedBeforeEnd).toEqual([]);
    expect(m.argsOf('applyGuestChange')).toEqual(['a', 'b']);
    expect(state.outcomes).toEqual({ a: 'unknown', b: 'unknown' });
    const [unsettled] = m.argsOf('recordUnsettledItems') as { by: string; abandoned: UnsettledItem[] }[];
    expect(unsettled!.by).toBe('dave');
    expect([...unsettled!.abandoned].sort((x, y) => x.key.localeCompare(y.key))).toEqual(FIVE.slice(0, 2).map(identity));
    expect(m.argsOf('recordApplyCancellation')).toEqual([expect.objectContaining({ jobId: JOB, by: 'dave' })]);
  });

  it('a planning failure closes the job with runFailed and the reason, and fails the run', async () => {
    const m = mockActivities(async () => { throw ApplicationFailure.nonRetryable('the job row is unreadable', 'PlanBroken'); });
    const { end, firstRunId } = await run(m.activities, async (h) => ({ end: await ending(h), firstRunId: h.firstExecutionRunId }));
    expect(end.status).toBe('FAILED');
    const cause = (end.error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect(cause!.cause).toMatchObject({ type: 'PlanBroken', message: 'the job row is unreadable' });
    expect(m.names()).toEqual(['loadApplyPlan', 'finishApplyJob']);
    const [finish] = m.argsOf('finishApplyJob') as { error: string }[];
    expect(finish).toEqual({ jobId: JOB, firstRunId, error: 'The run failed: the job row is unreadable', runFailed: true });
    expect(finish!.error.startsWith('The run failed:')).toBe(true);
  });

  it('a refused run writes nothing and closes no job: it fails as RunRefused', async () => {
    const abort = `Job ${JOB} refused this run: it belongs to another workflow.`;
    const m = mockActivities(async () => ({ run: null, branchName: '', abort, planned: 0, recorded: 0, vmids: [] }));
    const { end } = await run(m.activities, async (h) => ({ end: await ending(h) }));
    expect(end.status).toBe('FAILED');
    const cause = (end.error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'RunRefused', message: abort });
    expect(m.names()).toEqual(['loadApplyPlan']);
  });

  it('continues as new every few items: each VM applied once, in order, the chain claiming with its first run id', async () => {
    const m = mockActivities(async () => planOf(FIVE, 2, 2));
    const { result, state, firstRunId, runs } = await run(m.activities, async (h) => {
      const result = await h.result();
      const runs = [];
      for await (const r of env.client.workflow.list({ query: `WorkflowId = '${h.workflowId}'` })) runs.push(r.status.name);
      return { result, state: await h.query(applyStateQuery), firstRunId: h.firstExecutionRunId, runs };
    });
    expect(result).toEqual({ state: 'succeeded', pendingDeletionRequestIds: [] });
    expect(runs.sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW', 'CONTINUED_AS_NEW']);
    expect(m.argsOf('applyGuestChange')).toEqual(['a', 'b', 'c', 'd', 'e']);
    // Each run reads from where the last one stopped; the continued runs claim the job as the chain, never plan again.
    expect(m.argsOf('nextApplyItems')).toEqual([0, 2, 4]);
    expect(m.calls.filter((c) => c[0] === 'resumeApplyRun')).toEqual([['resumeApplyRun', JOB, firstRunId], ['resumeApplyRun', JOB, firstRunId]]);
    expect(m.names().filter((n) => n === 'loadApplyPlan' || n === 'verifyDrift' || n === 'finishApplyJob')).toEqual(['loadApplyPlan', 'verifyDrift', 'finishApplyJob']);
    expect(m.argsOf('finishApplyJob')).toEqual([{ jobId: JOB, firstRunId }]);
    expect(state).toMatchObject({ phase: 'done', run: 3, total: 5, done: 5, outcomes: { e: 'succeeded' } });
  });

  it('a cancel in a continued run stops the chain there: the query, the signal and the cancel reach the current run', async () => {
    const m = mockActivities(async () => planOf(FIVE, 2, 2), { held: ['c'] });
    const { end, state, firstRunId } = await run(m.activities, async (h) => {
      await m.sent('c');
      expect(await h.query(applyStateQuery)).toMatchObject({ run: 2, phase: 'applying', total: 5 });
      await h.signal(cancelRequestedSignal, { by: 'carol' });
      await h.cancel();
      await eventually(async () => ((await h.query(applyStateQuery)).phase === 'cancelling' ? true : undefined), 'the continued run to stop dispatching');
      m.answer('c', 'succeeded');
      return { end: await ending(h), state: await h.query(applyStateQuery), firstRunId: h.firstExecutionRunId };
    });
    expect(end.status).toBe('CANCELLED');
    expect((end.error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(m.argsOf('applyGuestChange')).toEqual(['a', 'b', 'c', 'd']);
    expect(state).toMatchObject({ phase: 'cancelled', run: 2, done: 4 });
    expect(m.argsOf('recordApplyCancellation')).toEqual([{ jobId: JOB, firstRunId, by: 'carol' }]);
  });
});
