import type { Context } from 'hono';

/** Paths proxbox-api serves without authentication and rate limiting (proxbox-api.md §1.1), plus our own `/_sim/` control routes. */
const EXEMPT = new Set(['/', '/docs', '/redoc', '/openapi.json', '/health', '/meta', '/auth/register-key', '/auth/bootstrap-status']);

export const isExemptPath = (path: string) => EXEMPT.has(path) || path.startsWith('/static/') || path.startsWith('/_sim/') || path === '/_sim';

/** The socket peer; `X-Forwarded-For` counts only when the peer is a trusted proxy (proxbox-api.md §1.3). */
export function clientIp(c: Context, trustedProxies: readonly string[]): string {
  const socket = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket;
  const peer = (socket?.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
  if (!trustedProxies.includes(peer)) return peer;
  const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded || peer;
}
