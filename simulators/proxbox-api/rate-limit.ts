import type { MiddlewareHandler } from 'hono';
import { clientIp, isExemptPath } from './client-ip';

const WINDOW_MS = 60_000;

/** Per-IP request counts over a rolling 60 s window, in memory (§1.3). */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(public limitPerMinute: number) {}

  /** Records the request and says whether it is allowed; rejected requests are not counted. */
  allow(ip: string, now = Date.now()): boolean {
    const recent = (this.hits.get(ip) ?? []).filter((t) => now - t < WINDOW_MS);
    if (recent.length >= this.limitPerMinute) {
      this.hits.set(ip, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(ip, recent);
    return true;
  }

  reset(): void {
    this.hits.clear();
  }
}

export function rateLimitMiddleware(limiter: RateLimiter, trustedProxies: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (isExemptPath(c.req.path)) return next();
    if (!limiter.allow(clientIp(c, trustedProxies))) {
      c.header('Retry-After', '60');
      return c.json({ detail: 'Rate limit exceeded. Please try again later.' }, 429);
    }
    return next();
  };
}
