import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignedDeletionDecision, type DeletionDecision } from './deletion-decision';

/**
 * The DeletionWorkflow only acts on decisions whose signature verifies against the server-side secret, so nobody who
 * can merely reach Temporal (CLI, UI, a script) can decide on someone else's behalf.
 */
export { DeletionDecision, SignedDeletionDecision } from './deletion-decision';

/** Decisions older than this are refused, so a captured signed message cannot be replayed later. */
export const DECISION_MAX_AGE_MS = 5 * 60_000;

function canonical(d: DeletionDecision): string {
  return JSON.stringify([d.requestId, d.workflowId, d.action, d.actor, d.tokenIssuers ?? [], d.typedVmid ?? null, d.reason ?? null, d.issuedAt, d.nonce]);
}

export function signDecision(secret: string, input: DeletionDecision): SignedDeletionDecision {
  const decision = { ...input, tokenIssuers: input.tokenIssuers ?? [] };
  const signature = createHmac('sha256', secret).update(canonical(decision)).digest('hex');
  return { decision, signature };
}

export type DecisionCheck = { ok: true } | { ok: false; why: string };

export function verifyDecision(secret: string, signed: unknown, now: Date): DecisionCheck {
  const parsed = SignedDeletionDecision.safeParse(signed);
  if (!parsed.success) return { ok: false, why: 'malformed decision' };
  const { decision, signature } = parsed.data;
  const expected = Buffer.from(signDecision(secret, decision).signature, 'hex');
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, why: 'signature does not verify: the decision was not issued by the proxbox-intent API' };
  }
  const age = now.getTime() - Date.parse(decision.issuedAt);
  if (!Number.isFinite(age) || age < -60_000 || age > DECISION_MAX_AGE_MS) {
    return { ok: false, why: 'decision expired: issue it again through the API' };
  }
  return { ok: true };
}

/** Where a decision is being applied: the request the workflow serves, that row's workflow id, and the running workflow's own id. */
export interface DecisionTarget { requestId: number; rowWorkflowId: string; runningWorkflowId: string }

/**
 * A verified decision binds one request and one workflow. It counts only in the workflow it was issued for: the row's
 * own workflow, and the one running now (a workflow started straight in Temporal for someone else's request, under
 * another id, cannot borrow that request's decisions). Null when the decision belongs here.
 */
export function decisionTargetMismatch(decision: Pick<DeletionDecision, 'requestId' | 'workflowId'>, target: DecisionTarget): string | null {
  if (decision.requestId !== target.requestId || decision.workflowId !== target.rowWorkflowId) return 'the decision was issued for another deletion request';
  if (decision.workflowId !== target.runningWorkflowId) {
    return `the decision was issued for workflow ${target.rowWorkflowId}, not for this one (${target.runningWorkflowId.slice(0, 100)})`;
  }
  return null;
}
