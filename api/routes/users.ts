import { Hono } from 'hono';
import { z } from 'zod';
import type { TokenView, UserStore } from '../../db/users';
import { PermissionName } from '../../domain/permissions';
import { actorOf, requirePermission, type AuthEnv } from '../auth';
import { problem } from '../problem';
import { validate } from '../validation';

export const Username = z.string().trim().min(1).max(150).regex(/^[\w.@+-]+$/, 'letters, digits and @.+-_ only (a NetBox username)');
export const NewUser = z.strictObject({ username: Username, permissions: z.array(PermissionName).default([]) });
export const UserPatch = z.strictObject({ permissions: z.array(PermissionName) });
export const NewToken = z.strictObject({
  description: z.string().max(200).default(''),
  /** When the token stops working; null: never; left out: the settings' `tokenLifetimeDays` (none by default). */
  expiresAt: z.iso.datetime({ offset: true }).nullable().optional()
    .refine((v) => v === null || v === undefined || Date.parse(v) > Date.now(), 'must be in the future'),
});

const UserParam = z.object({ username: Username });
const TokenParam = z.object({ username: Username, tokenId: z.uuid() });

/** A token as listed: never the token itself, which exists only in the answer that created it. */
export function tokenView(t: TokenView) {
  return {
    id: t.id, description: t.description, issuedBy: t.issuedBy, issuerChain: t.issuerChain,
    createdAt: t.createdAt.toISOString(), expiresAt: t.expiresAt?.toISOString() ?? null, lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    state: t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt.getTime() <= Date.now() ? 'expired' : 'active',
  };
}

export function userRoutes(store: UserStore) {
  return new Hono<AuthEnv>()
    .use(requirePermission('manage_users'))
    .get('/', async (c) => c.json({ items: await store.list(), nextCursor: null }))
    .post('/', validate('json', NewUser), async (c) => {
      const { username, permissions } = c.req.valid('json');
      const user = await store.create(username, permissions, actorOf(c));
      return user ? c.json(user, 201) : problem(c, 409, 'user_exists', `User '${username}' already exists.`);
    })
    .patch('/:username', validate('param', UserParam), validate('json', UserPatch), async (c) => {
      const user = await store.setPermissions(c.req.valid('param').username, c.req.valid('json').permissions, actorOf(c));
      return user ? c.json(user) : problem(c, 404, 'not_found', 'No such user.');
    })
    .delete('/:username', validate('param', UserParam), async (c) => {
      return (await store.delete(c.req.valid('param').username, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No such user.');
    })
    .get('/:username/tokens', validate('param', UserParam), async (c) => {
      const tokens = await store.listTokens(c.req.valid('param').username);
      return tokens ? c.json({ items: tokens.map(tokenView), nextCursor: null }) : problem(c, 404, 'not_found', 'No such user.');
    })
    .post('/:username/tokens', validate('param', UserParam), validate('json', NewToken), async (c) => {
      const { description, expiresAt } = c.req.valid('json');
      const created = await store.createToken(c.req.valid('param').username, {
        description, ...(expiresAt !== undefined ? { expiresAt: expiresAt === null ? null : new Date(expiresAt) } : {}),
      }, actorOf(c));
      return created ? c.json({ ...tokenView(created), token: created.token }, 201) : problem(c, 404, 'not_found', 'No such user.');
    })
    .delete('/:username/tokens/:tokenId', validate('param', TokenParam), async (c) => {
      const { username, tokenId } = c.req.valid('param');
      return (await store.revokeToken(username, tokenId, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No such active token.');
    });
}
