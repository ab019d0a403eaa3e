import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AuthenticatedUser, UserStore } from '../db/users';
import { hasPermission, type Permission } from '../domain/permissions';
import { problem } from './problem';
import type { AuthFailureGuard } from './rate-limits';

export type AuthEnv = { Variables: { user: AuthenticatedUser } };

/** Bearer-token authentication; tokens are looked up by hash. Failed attempts are limited per address. */
export function authenticate(users: UserStore, guard: AuthFailureGuard): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const locked = await guard.lockedOut(c);
    if (locked) return locked;
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return problem(c, 401, 'unauthenticated', 'Authentication required: send Authorization: Bearer <token>.');
    const user = await users.authenticate(match[1]!);
    if (!user) return (await guard.failed(c)) ?? problem(c, 401, 'unauthenticated', 'The token is unknown or revoked.');
    c.set('user', user);
    await next();
  });
}

export function requirePermission(permission: Permission): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    if (!hasPermission(c.get('user').permissions, permission)) {
      return problem(c, 403, 'permission_denied', `permission denied: this action requires '${permission}'.`);
    }
    await next();
  });
}
