import { z } from 'zod';

/**
 * An approval or rejection as our API issues it for an authenticated user, and its signed envelope. Shape only, no
 * crypto: the workflow's `decide` update validator imports this (deterministic and synchronous), while the signature
 * is verified by the local activity (domain/approval-signature.ts).
 */
export const DeletionDecision = z.object({
  requestId: z.number().int().positive(),
  workflowId: z.string().min(1).max(200),
  action: z.enum(['approve', 'reject']),
  actor: z.string().min(1).max(150),
  /**
   * The issuer chain of the token the actor authenticated with: an approval counts as self-approval when the requester
   * is in it (the requester issued the token, or the token that issued it, …). Signed, so the workflow can re-check it.
   */
  tokenIssuers: z.array(z.string().max(150)).max(50).default([]),
  typedVmid: z.number().int().optional(),
  reason: z.string().max(255).optional(),
  issuedAt: z.string().max(40),
  nonce: z.string().min(8).max(100),
});
/** A decision as callers write it (`tokenIssuers` may be left out: none). */
export type DeletionDecision = z.input<typeof DeletionDecision>;

/** HMAC-SHA256 in lowercase hex: a decision without one is unsigned. */
export const SignedDeletionDecision = z.object({ decision: DeletionDecision, signature: z.string().regex(/^[0-9a-f]{64}$/) });
export type SignedDeletionDecision = z.infer<typeof SignedDeletionDecision>;

export const MALFORMED_DECISION = 'Decision refused: malformed decision.';

/** True when the input has the shape of a signed decision (whether the signature verifies is another matter). */
export function isWellFormedDecision(input: unknown): input is SignedDeletionDecision {
  return SignedDeletionDecision.safeParse(input).success;
}
