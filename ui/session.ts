import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { SessionStore } from '../db/sessions';
import type { AuthenticatedUser } from '../db/users';
import { clientAddress } from '../domain/client-address';
import { SESSION_ABSOLUTE_MS, csrfTokenFor } from '../domain/sessions';
import type { UiEnv } from './context';

/** The session cookie: HttpOnly, SameSite=Strict, Path=/ (the live log's event stream lives under /api/v1). */
export const SESSION_COOKIE = 'pbi_session';

/**
 * Whether the browser reached us over https: the request itself, or, when the socket peer is one of
 * API_TRUSTED_PROXIES, that proxy's `X-Forwarded-Proto` (a header from anyone else proves nothing).
 */
export function viaHttps(c: Context, trustedProxies: readonly string[]): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  let peer: string | null = null;
  try { peer = getConnInfo(c).remote.address ?? null; } catch { /* app.request in a test */ }
  const normal = (a: string) => clientAddress(a, null, []);
  const viaTrustedProxy = peer !== null && trustedProxies.some((p) => normal(p) === normal(peer));
  return viaTrustedProxy && (c.req.header('x-forwarded-proto') ?? '').split(',')[0]?.trim() === 'https';
}

/** The origin the browser sees (for the same-origin check of forms): the proxy's scheme and host when trusted. */
export function ownOrigin(c: Context, trustedProxies: readonly string[]): string {
  const url = new URL(c.req.url);
  const https = viaHttps(c, trustedProxies);
  const host = https && url.protocol !== 'https:' ? (c.req.header('x-forwarded-host') ?? c.req.header('host') ?? url.host) : (c.req.header('host') ?? url.host);
  return `${https ? 'https' : url.protocol.replace(':', '')}://${host}`;
}

export function setSessionCookie(c: Context, secret: string, trustedProxies: readonly string[]): void {
  setCookie(c, SESSION_COOKIE, secret, {
    httpOnly: true, sameSite: 'Strict', secure: viaHttps(c, trustedProxies), path: '/', maxAge: Math.floor(SESSION_ABSOLUTE_MS / 1000),
  });
}

export function clearSessionCookie(c: Context, trustedProxies: readonly string[]): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: viaHttps(c, trustedProxies), httpOnly: true, sameSite: 'Strict' });
}

export const sessionSecretOf = (c: Context): string | undefined => getCookie(c, SESSION_COOKIE) || undefined;

/** The sign-in page's address that brings the user back to `path` afterwards. */
export function signInUrl(path: string): string {
  return `/ui/sign-in?next=${encodeURIComponent(path)}`;
}

/**
 * Every page behind it needs a live session: without one, a GET goes to the sign-in page (and back here afterwards),
 * anything else is sent there too, having changed nothing. Sets `user` (with the current permissions, as the API's
 * token authentication does) and the session's `csrfToken` for the forms.
 */
export function requireSession(sessions: SessionStore): MiddlewareHandler<UiEnv> {
  return createMiddleware<UiEnv>(async (c, next) => {
    const secret = sessionSecretOf(c);
    const user = secret ? await sessions.resolve(secret) : undefined;
    if (!secret || !user) {
      const url = new URL(c.req.url);
      return c.redirect(signInUrl(c.req.method === 'GET' ? url.pathname + url.search : '/ui/dashboard'), 303);
    }
    c.set('user', user);
    c.set('csrfToken', csrfTokenFor(secret));
    await next();
  });
}

/**
 * For the API's authentication (api/auth.ts): the session cookie stands in for a token on same-origin reads only
 * (GET/HEAD, such as the live log's EventSource). Writes to the API always need a Bearer token, so the cookie can
 * never be used to change anything there, with or without CSRF.
 */
export function sessionCookieReader(sessions: SessionStore): (c: Context) => Promise<AuthenticatedUser | undefined> {
  return async (c) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return undefined;
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin') return undefined;
    const secret = sessionSecretOf(c);
    return secret ? sessions.resolve(secret) : undefined;
  };
}
