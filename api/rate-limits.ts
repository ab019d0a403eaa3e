import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { QuotaRule, QuotaStore } from '../db/quotas';
import { clientAddress } from '../domain/client-address';
import { problem } from './problem';

/** The API's abuse limits (config/env.ts, README "Security"). */
export interface ApiLimits {
  authFailuresPerIp: number;
  authFailureWindowS: number;
  planRequestsPerUserPerMin: number;
  /** proxbox-api calls all plans together may make per rolling minute (proxbox-api allows 300 per IP, proxbox-api.md §1.3). */
  planProxboxCallsPerMin: number;
  sseStreamsPerUser: number;
  trustedProxies: string[];
}

export const DEFAULT_LIMITS: ApiLimits = {
  authFailuresPerIp: 10, authFailureWindowS: 300, planRequestsPerUserPerMin: 30, planProxboxCallsPerMin: 120, sseStreamsPerUser: 4, trustedProxies: [],
};

export const MINUTE_MS = 60_000;
/** An event stream's lease on its user's quota lapses this long after its last renewal (renewed every third of it). */
export const SSE_LEASE_TTL_MS = 60_000;

/** 429 problem+json with Retry-After. */
export function tooManyRequests(c: Context, retryAfterS: number, code: string, detail: string): Response {
  c.header('Retry-After', String(retryAfterS));
  return problem(c, 429, code, detail);
}

export function requestAddress(c: Context, trustedProxies: readonly string[]): string {
  let peer: string | null = null;
  try { peer = getConnInfo(c).remote.address ?? null; } catch { /* not served by node (app.request in a test) */ }
  return clientAddress(peer, c.req.header('x-forwarded-for') ?? null, trustedProxies);
}

/**
 * Failed authentication per client address (wrong tokens, wrong webhook signatures; a missing credential is not a
 * guess and does not count). Past the limit every request from the address is refused until the window lets go,
 * even one with a valid credential, so a guess that happens to be right gains nothing.
 */
export class AuthFailureGuard {
  private readonly rule: QuotaRule;

  constructor(private readonly quotas: QuotaStore, private readonly limits: ApiLimits) {
    this.rule = { limit: limits.authFailuresPerIp, ttlMs: limits.authFailureWindowS * 1000 };
  }

  private key(c: Context): string {
    return `auth-failures:${requestAddress(c, this.limits.trustedProxies)}`;
  }

  /** A 429 when the address is locked out, else null. */
  async lockedOut(c: Context): Promise<Response | null> {
    const answer = await this.quotas.check(this.key(c), this.rule);
    return answer.ok ? null : this.refusal(c, answer.retryAfterS);
  }

  /** Counts a failure; the 429 when it was one too many (the caller answers 401 otherwise). */
  async failed(c: Context): Promise<Response | null> {
    const answer = await this.quotas.take(this.key(c), this.rule);
    return answer.ok ? null : this.refusal(c, answer.retryAfterS);
  }

  private refusal(c: Context, retryAfterS: number): Response {
    return tooManyRequests(c, retryAfterS, 'too_many_auth_failures',
      `Too many failed authentication attempts from this address (${this.rule.limit} per ${this.limits.authFailureWindowS} s). Try again in ${retryAfterS} s.`);
  }
}
