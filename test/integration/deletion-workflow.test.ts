import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { DecisionChannel, DecisionOutcome, DeletionActivities, ExecutionOutcome } from '../../activities/deletion';
import { DeletionWorkflow } from '../../workflows/deletion';
import { decideSignal, decideUpdate, deletionStateQuery } from '../../workflows/definitions';
import type { SignedDeletionDecision } from '../../domain/deletion-decision';
import { startWorkflowEnvironment, withWorker } from '../support/workflow-environment';

/**
 * The DeletionWorkflow on its own (test/support/workflow-environment.ts), the real workflow bundle, and mocked
 * activities that record what the workflow asked for. The TTL is data: the input's `expiresAtMs` a moment ahead.
 */
let env: TestWorkflowEnvironment;
beforeAll(async () => { env = await startWorkflowEnvironment(); });
afterAll(async () => { await env?.teardown(); });

type Call = [name: string, ...args: unknown[]];

/** The deletion activities as a fake PostgreSQL would answer them: the first decision on a pending request wins. */
function mockActivities(over: Partial<DeletionActivities> = {}) {
  const calls: Call[] = [];
  // The first decision holds until the test releases it, so the test can send another one while it runs.
  let entered!: () => void;
  const firstEntered = new Promise<void>((r) => { entered = r; });
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let holdFirst = false;
  let stored: 'pending' | 'approved' | 'rejected' | 'expired' = 'pending';
  let deciding = 0;
  let overlapping = false;
  const activities: DeletionActivities = {
    async markPendingDeletion(id) { calls.push(['markPendingDeletion', id]); return { tagged: true }; },
    async untagPendingDeletion(id) { calls.push(['untagPendingDeletion', id]); return { untagged: true }; },
    async expireDeletion(id) { calls.push(['expireDeletion', id]); stored = 'expired'; return { expired: true }; },
    async decideDeletion(id: number, signed: SignedDeletionDecision, channel: DecisionChannel): Promise<DecisionOutcome> {
      if (deciding++ > 0) overlapping = true;
      try {
        const first = calls.every((c) => c[0] !== 'decideDeletion');
        if (first && holdFirst) { entered(); await released; }
        const { action, actor } = signed.decision;
        calls.push(['decideDeletion', id, action, actor, channel]);
        if (stored !== 'pending') {
          return { ok: false, refusal: { code: 'invalid_state', detail: `Deletion request is ${stored}; only pending requests can be decided.` } };
        }
        stored = action === 'approve' ? 'approved' : 'rejected';
        return { ok: true, action, actor, state: stored, reason: signed.decision.reason ?? null };
      } finally { deciding--; }
    },
    async executeDeletion(id): Promise<ExecutionOutcome> { calls.push(['executeDeletion', id]); return { state: 'succeeded', reason: null, reasonCode: null, upid: 'UPID:pve01:1' }; },
    async recordDeletionFailure(id, why): Promise<ExecutionOutcome> {
      calls.push(['recordDeletionFailure', id, why]);
      return { state: 'failed', reason: why, reasonCode: 'execution_interrupted', upid: null };
    },
    ...over,
  } as DeletionActivities;
  return {
    activities, calls, names: () => calls.map((c) => c[0]), overlapped: () => overlapping,
    holdFirstDecision: () => { holdFirst = true; return { entered: firstEntered, release }; },
  };
}

type DeletionHandle = WorkflowHandleWithFirstExecutionRunId<typeof DeletionWorkflow>;

async function run<T>(activities: DeletionActivities, ttlMs: number, body: (h: DeletionHandle) => Promise<T>): Promise<T> {
  return withWorker(env, 'deletion-wf', activities, async (taskQueue) => body(await env.client.workflow.start(DeletionWorkflow, {
    taskQueue, workflowId: `deletion-wf-test-${taskQueue}`,
    args: [{ requestId: 7, vmid: 901, node: 'pve01', kind: 'qemu', name: 'old-901', requestedBy: 'alice', branchSchemaId: 'br1', expiresAtMs: Date.now() + ttlMs }],
  })));
}

const decision = (action: 'approve' | 'reject', actor: string, workflowId: string): SignedDeletionDecision => ({
  decision: { requestId: 7, workflowId, action, actor, tokenIssuers: [], typedVmid: 901, issuedAt: new Date().toISOString(), nonce: `nonce-${Math.random()}`, reason: `${action} by ${actor}` },
  signature: 'a'.repeat(64),
});

const DAY = 86_400_000;

describe('DeletionWorkflow with mocked activities', () => {
  it('expires at expiresAtMs when nobody decides: expire, then untag, and never destroys', async () => {
    const m = mockActivities();
    const result = await run(m.activities, 1_500, (h) => h.result());
    expect(result).toMatchObject({ state: 'expired', reasonCode: 'expired', decidedBy: null });
    expect(result.reason).toBe(`The request expired at ${result.expiresAt} before anyone approved it; nothing was destroyed.`);
    expect(m.names()).toEqual(['markPendingDeletion', 'expireDeletion', 'untagPendingDeletion']);
  });

  it('approved: destroys once and does not untag the destroyed guest', async () => {
    const m = mockActivities();
    const result = await run(m.activities, DAY, async (h) => {
      await h.executeUpdate(decideUpdate, { args: [decision('approve', 'bob', h.workflowId)] });
      return h.result();
    });
    expect(result).toMatchObject({ state: 'succeeded', decidedBy: 'bob', refusedAttempts: 0 });
    // The decision may land before or after the tag is written; the destroy comes last, and nothing untags.
    expect([...m.names()].sort()).toEqual(['decideDeletion', 'executeDeletion', 'markPendingDeletion']);
    expect(m.names().at(-1)).toBe('executeDeletion');
  });

  it('decides one decision at a time: the first to land wins, the later ones are refused and counted', async () => {
    const m = mockActivities();
    const hold = m.holdFirstDecision();
    const { result, answers } = await run(m.activities, DAY, async (h) => {
      const approve = h.executeUpdate(decideUpdate, { args: [decision('approve', 'bob', h.workflowId)] });
      await hold.entered;
      // The rejection reaches the workflow while the approval is still being decided: it must wait its turn.
      await h.signal(decideSignal, decision('reject', 'carol', h.workflowId));
      await h.query(deletionStateQuery);
      hold.release();
      const answers = await Promise.allSettled([approve]);
      return { result: await h.result(), answers };
    });
    expect(m.overlapped()).toBe(false);
    expect(answers[0]!.status).toBe('fulfilled');
    expect(result).toMatchObject({ state: 'succeeded', decidedBy: 'bob', refusedAttempts: 1 });
    expect(m.calls.filter((c) => c[0] === 'decideDeletion').map((c) => c.slice(2))).toEqual([['approve', 'bob', 'update'], ['reject', 'carol', 'signal']]);
    expect(m.names().filter((n) => n === 'executeDeletion')).toHaveLength(1);
  });

  it('rejected: untags, never destroys; a later approval is refused with the status in the failure', async () => {
    const m = mockActivities();
    const { result, late } = await run(m.activities, DAY, async (h) => {
      await h.executeUpdate(decideUpdate, { args: [decision('reject', 'bob', h.workflowId)] });
      const late = await h.executeUpdate(decideUpdate, { args: [decision('approve', 'carol', h.workflowId)] }).then(() => null, (e: unknown) => e);
      return { result: await h.result(), late };
    });
    expect(result).toMatchObject({ state: 'rejected', reasonCode: 'rejected', reason: 'reject by bob', decidedBy: 'bob' });
    expect(m.names().filter((n) => n !== 'decideDeletion')).toEqual(['markPendingDeletion', 'untagPendingDeletion']);
    // Refused by the still-running workflow (the first decision won) or by Temporal once the run has closed.
    expect(late).toBeInstanceOf(Error);
    expect(m.calls.filter((c) => c[0] === 'decideDeletion')[0]!.slice(2, 4)).toEqual(['reject', 'bob']);
  });

  it('a malformed decision is rejected by the validator before any activity runs', async () => {
    const m = mockActivities();
    const err = await run(m.activities, DAY, async (h) => {
      const e = await h.executeUpdate(decideUpdate, { args: [{ decision: { action: 'approve' }, signature: 'nope' } as unknown as SignedDeletionDecision] })
        .then(() => null, (x: unknown) => x);
      await h.terminate('test over');
      return e;
    });
    expect((err as Error & { cause?: { message?: string; type?: string } }).cause).toMatchObject({ message: 'Decision refused: malformed decision.', type: 'forged_decision' });
    expect(m.names()).not.toContain('decideDeletion');
  });

  it('a destroy that fails without an answer is settled by recordDeletionFailure, ends failed and untags', async () => {
    const m = mockActivities({
      async executeDeletion() { throw new Error('proxbox-api went away'); },
    });
    const result = await run(m.activities, DAY, async (h) => {
      await h.executeUpdate(decideUpdate, { args: [decision('approve', 'bob', h.workflowId)] });
      return h.result();
    });
    expect(result).toMatchObject({ state: 'failed', reasonCode: 'execution_interrupted' });
    const failure = m.calls.find((c) => c[0] === 'recordDeletionFailure')!;
    expect(failure[2]).toBe('The execution stopped without an answer (proxbox-api went away).');
    expect(m.names().slice(-2)).toEqual(['recordDeletionFailure', 'untagPendingDeletion']);
  });
});
