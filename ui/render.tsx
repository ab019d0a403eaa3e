import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { hasPermission, type Permission } from '../domain/permissions';
import type { UiEnv } from './context';
import { ErrorPage } from './pages/errors';

/** Answers a page (a `<Layout>` element) as an HTML document. */
export function render(c: Context, page: Child, status: ContentfulStatusCode = 200): Response | Promise<Response> {
  return c.html(<>{raw('<!doctype html>')}{page}</>, status);
}

/** A refusal page for a signed-in user (the header and navigation stay). */
export function refusePage(c: Context<UiEnv>, status: ContentfulStatusCode, title: string, message: string, code?: string) {
  return render(c, <ErrorPage title={title} message={message} user={c.get('user')} csrfToken={c.get('csrfToken')} code={code} />, status);
}

/**
 * The page needs one of these permissions: the same names and the same check (domain/permissions.ts) as the API's
 * `requireAnyPermission`, answered as a 403 page before the handler runs, so nothing is read or changed.
 */
export function pagePermission(...anyOf: Permission[]): MiddlewareHandler<UiEnv> {
  return createMiddleware<UiEnv>(async (c, next) => {
    if (!anyOf.some((p) => hasPermission(c.get('user').permissions, p))) {
      return refusePage(c, 403, 'Not permitted', `permission denied: this page requires '${anyOf.join("' or '")}'. Nothing was changed.`, 'permission_denied');
    }
    await next();
  });
}

/** Security headers of every /ui answer: no inline script or style, no framing, nothing from another origin. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(): MiddlewareHandler {
  return createMiddleware(async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });
}
