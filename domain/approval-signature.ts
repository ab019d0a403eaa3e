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
  return JSON.stringify([d.requestId, d.workflowId, d.action, d.actor, d.typedVmid ?? null, d.reason ?? null, d.issuedAt, d.nonce]);
}

export function signDecision(secret: string, decision: DeletionDecision): SignedDeletionDecision {
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
