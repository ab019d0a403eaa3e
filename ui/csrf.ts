import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { csrfTokenMatches, sameOriginRequest } from '../domain/sessions';
import type { UiEnv } from './context';
import { ownOrigin, sessionSecretOf } from './session';

/** The hidden field every form carries (components/form.tsx `CsrfField`). */
export const CSRF_FIELD = '_csrf';

/**
 * Every state-changing request of the pages must come from our own origin (Sec-Fetch-Site, else Origin or Referer)
 * and, once signed in, carry the session's CSRF token. `refuse` renders the 403 page; nothing has been read from the
 * form but the token and nothing has changed when it runs.
 */
export function csrfProtection(opts: { trustedProxies: readonly string[]; withToken: boolean; refuse: (c: Parameters<MiddlewareHandler<UiEnv>>[0], why: string) => Response | Promise<Response> }): MiddlewareHandler<UiEnv> {
  return createMiddleware<UiEnv>(async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const origin = ownOrigin(c, opts.trustedProxies);
    if (!sameOriginRequest({ secFetchSite: c.req.header('sec-fetch-site'), origin: c.req.header('origin'), referer: c.req.header('referer') }, origin)) {
      return opts.refuse(c, 'This form was sent from another site, so it was refused and nothing changed.');
    }
    if (opts.withToken) {
      const secret = sessionSecretOf(c);
      const form = await c.req.parseBody().catch(() => ({} as Record<string, unknown>));
      const given = form[CSRF_FIELD];
      if (!secret || typeof given !== 'string' || !csrfTokenMatches(secret, given)) {
        return opts.refuse(c, 'This form has expired or did not come from this page (CSRF check), so nothing changed. Reload the page and try again.');
      }
    }
    await next();
  });
}
