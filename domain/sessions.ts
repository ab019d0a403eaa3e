import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A session ends after this long without a request… */
export const SESSION_IDLE_MS = 30 * 60_000;
/** …and after this long in any case. */
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;
/** `lastSeenAt` is written at most this often (a page load is several requests). */
export const SESSION_TOUCH_MS = 60_000;

/** A new session secret (the cookie's value) and the hash that is stored in its place. */
export function newSessionSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: hashSessionSecret(secret) };
}

export function hashSessionSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether a session is still usable at `now` (not revoked, within both limits). */
export function sessionAlive(s: { lastSeenAt: Date; expiresAt: Date; revokedAt: Date | null }, now: Date): boolean {
  return s.revokedAt === null && now < s.expiresAt && now.getTime() - s.lastSeenAt.getTime() < SESSION_IDLE_MS;
}

/**
 * The CSRF token of a session: derived from the session's secret, so it needs no storage, differs per session and
 * cannot be computed by anyone who does not hold the cookie (which scripts never see: HttpOnly).
 */
export function csrfTokenFor(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('proxbox-intent ui csrf').digest('base64url');
}

export function csrfTokenMatches(sessionSecret: string, given: string): boolean {
  const expected = Buffer.from(csrfTokenFor(sessionSecret));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Where to go after signing in: only a path of this site (`/ui/…`), never another origin (`//evil`, `https://…`,
 * `/\evil`), so the sign-in page cannot be used as an open redirect.
 */
export function safeNextPath(next: string | null | undefined, fallback = '/ui/dashboard'): string {
  if (!next || !next.startsWith('/ui') || next.startsWith('//') || /[\\\s]/.test(next) || next.length > 500) return fallback;
  if (next !== '/ui' && !next.startsWith('/ui/') && !next.startsWith('/ui?')) return fallback;
  return next;
}

/**
 * Whether a state-changing request comes from our own pages: the browser's `Sec-Fetch-Site` when it sends one,
 * otherwise `Origin` (or, lacking both, `Referer`) must be our origin. A request with none of them is refused.
 */
export function sameOriginRequest(h: { secFetchSite?: string | undefined; origin?: string | undefined; referer?: string | undefined }, ownOrigin: string): boolean {
  if (h.secFetchSite && h.secFetchSite !== 'same-origin') return false;
  if (h.origin !== undefined && h.origin !== '') return h.origin === ownOrigin;
  if (h.referer) {
    try { return new URL(h.referer).origin === ownOrigin; } catch { return false; }
  }
  return h.secFetchSite === 'same-origin';
}
