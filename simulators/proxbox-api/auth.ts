import type { MiddlewareHandler } from 'hono';
import { clientIp, isExemptPath } from './client-ip';

const MAX_FAILURES = 5;
const LOCKOUT_MS = 300_000;

export const AUTH_MESSAGES = {
  lockedOut: 'Too many failed authentication attempts. Please try again later.',
  noKeys: 'No API key configured. Register a key via POST /auth/register-key or use an existing key.',
  required: 'API key required.',
  invalid: 'Invalid API key.',
} as const;

interface Failures { count: number; firstAt: number }

/** API keys and the per-IP failure counter with its 5-failure, 300 s lockout (proxbox-api.md §1.2). */
export class AuthGuard {
  private readonly keys = new Set<string>();
  private readonly failures = new Map<string, Failures>();

  constructor(keys: readonly string[]) {
    this.setKeys(keys);
  }

  setKeys(keys: readonly string[]): void {
    this.keys.clear();
    for (const k of keys) this.keys.add(k);
  }

  get hasKeys(): boolean {
    return this.keys.size > 0;
  }

  isKnown(key: string): boolean {
    return this.keys.has(key);
  }

  isLockedOut(ip: string, now = Date.now()): boolean {
    const f = this.failures.get(ip);
    return !!f && f.count >= MAX_FAILURES && now - f.firstAt < LOCKOUT_MS;
  }

  /** Records a failure and returns the attempts left, the current one included. */
  fail(ip: string, now = Date.now()): number {
    const f = this.failures.get(ip);
    if (!f || now - f.firstAt > LOCKOUT_MS) {
      this.failures.set(ip, { count: 1, firstAt: now });
      return MAX_FAILURES - 1;
    }
    f.count += 1;
    return Math.max(0, MAX_FAILURES - f.count);
  }

  succeed(ip: string): void {
    this.failures.delete(ip);
  }

  reset(): void {
    this.failures.clear();
  }
}

const withRemaining = (base: string, n: number) => (n > 0 ? `${base.slice(0, -1)}. ${n} attempts remaining.` : base);

export function authMiddleware(guard: AuthGuard, trustedProxies: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (isExemptPath(c.req.path)) return next();
    const ip = clientIp(c, trustedProxies);
    if (guard.isLockedOut(ip)) {
      c.header('Retry-After', '300');
      return c.json({ detail: AUTH_MESSAGES.lockedOut }, 429);
    }
    if (!guard.hasKeys) return c.json({ detail: AUTH_MESSAGES.noKeys }, 401);
    const key = c.req.header('x-proxbox-api-key');
    if (!key) return c.json({ detail: withRemaining(AUTH_MESSAGES.required, guard.fail(ip)) }, 401);
    if (!guard.isKnown(key)) return c.json({ detail: withRemaining(AUTH_MESSAGES.invalid, guard.fail(ip)) }, 401);
    guard.succeed(ip);
    return next();
  };
}
