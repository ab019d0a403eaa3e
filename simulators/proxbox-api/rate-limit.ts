import type { MiddlewareHandler } from 'hono';
import { clientIp, isExemptPath } from './client-ip';

const WINDOW_MS = 60_000;

/** Per-IP request counts over a rolling 60 s window, in memory (proxbox-api.md §1.3). */
export class RateLimiter {
  // Per IP, the accepted requests' times in arrival order; `start` skips the ones that left the window, so a
  // request costs O(1) amortised however high the limit (the benchmark sets it to a million).
  private readonly hits = new Map<string, { times: number[]; start: number }>();

  constructor(public limitPerMinute: number) {}

  /** Records the request and says whether it is allowed; rejected requests are not counted. */
  allow(ip: string, now = Date.now()): boolean {
    let window = this.hits.get(ip);
    if (!window) this.hits.set(ip, window = { times: [], start: 0 });
    while (window.start < window.times.length && now - window.times[window.start]! >= WINDOW_MS) window.start += 1;
    if (window.start > 1024 && window.start * 2 > window.times.length) {
      window.times = window.times.slice(window.start);
      window.start = 0;
    }
    if (window.times.length - window.start >= this.limitPerMinute) return false;
    window.times.push(now);
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
