import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AuthenticatedUser, UserStore } from '../db/users';
import { hasPermission, type Permission } from '../domain/permissions';
import type { Actor } from '../domain/tokens';
import { problem } from './problem';
import type { AuthFailureGuard } from './rate-limits';

export type AuthEnv = { Variables: { user: AuthenticatedUser } };

/**
 * Bearer-token authentication; tokens are looked up by hash. Failed attempts are limited per address. Without an
 * Authorization header, `sessionUser` may stand in (the operator pages' session cookie, for same-origin reads only:
 * ui/session.ts `sessionCookieReader`).
 */
export function authenticate(users: UserStore, guard: AuthFailureGuard,
  sessionUser?: (c: Context) => Promise<AuthenticatedUser | undefined>): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const locked = await guard.lockedOut(c);
    if (locked) return locked;
    const header = c.req.header('authorization') ?? '';
    const fromSession = !header && sessionUser ? await sessionUser(c) : undefined;
    if (fromSession) {
      c.set('user', fromSession);
      return next();
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return problem(c, 401, 'unauthenticated', 'Authentication required: send Authorization: Bearer <token>.');
    const user = await users.authenticate(match[1]!);
    if (!user) return (await guard.failed(c)) ?? problem(c, 401, 'unauthenticated', 'The token is unknown, revoked or expired.');
    c.set('user', user);
    await next();
  });
}

export function requirePermission(permission: Permission): MiddlewareHandler<AuthEnv> {
  return requireAnyPermission(permission);
}

/** Passes when the user holds at least one of `permissions`. */
export function requireAnyPermission(...permissions: Permission[]): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    if (!permissions.some((p) => hasPermission(c.get('user').permissions, p))) {
      return problem(c, 403, 'permission_denied', `permission denied: this action requires '${permissions.join("' or '")}'.`);
    }
    await next();
  });
}

/** The authenticated user as the actor of a change (its token's issuer chain included, for the four-eyes rules). */
export function actorOf(c: Context<AuthEnv>): Actor {
  const user = c.get('user');
  return { name: user.username, tokenIssuers: user.tokenIssuers };
}
