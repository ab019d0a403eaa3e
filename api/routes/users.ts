import { z } from 'zod';
import type { TokenView, UserStore } from '../../db/users';
import { NO_SUCH_USER, NewToken, NewUser, UserPatch, tokenState, userExists } from '../../domain/user-admin';
import { Username } from '../../domain/usernames';
import { actorOf, requirePermission } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { problem } from '../problem';

const UserParam = z.object({ username: Username });
const TokenParam = z.object({ username: Username, tokenId: z.uuid() });

/** A token as listed: never the token itself, which exists only in the answer that created it. */
export function tokenView(t: TokenView) {
  return {
    id: t.id, description: t.description, issuedBy: t.issuedBy, issuerChain: t.issuerChain,
    createdAt: t.createdAt.toISOString(), expiresAt: t.expiresAt?.toISOString() ?? null, lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    state: tokenState(t),
  };
}

/** Every route of /users needs `manage_users`, checked once by the router. */
const MANAGE_USERS = guarded(['manage_users'], { checkedElsewhere: true });

export const userRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'List users', ...MANAGE_USERS,
    responses: { 200: { description: 'The users' }, ...problems(...AUTHENTICATED, 403) },
  }),
  create: createRoute({
    method: 'post', path: '/', summary: 'Add a user', ...MANAGE_USERS, request: { body: jsonBody(NewUser) },
    responses: { 201: { description: 'The user' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 409) },
  }),
  setPermissions: createRoute({
    method: 'patch', path: '/{username}', summary: 'Set a user\'s permissions', ...MANAGE_USERS, request: { params: UserParam, body: jsonBody(UserPatch) },
    responses: { 200: { description: 'The user' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404) },
  }),
  remove: createRoute({
    method: 'delete', path: '/{username}', summary: 'Remove a user', ...MANAGE_USERS, request: { params: UserParam },
    responses: { 204: { description: 'Removed' }, ...problems(...AUTHENTICATED, 400, 403, 404, 413, 415, 422) },
  }),
  tokens: createRoute({
    method: 'get', path: '/{username}/tokens', summary: 'A user\'s tokens: id, issued by, created, expires, last used (never the token)', ...MANAGE_USERS,
    request: { params: UserParam }, responses: { 200: { description: 'The tokens' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  createToken: createRoute({
    method: 'post', path: '/{username}/tokens', summary: 'Create a token (shown once; expiresAt, or the settings\' tokenLifetimeDays)', ...MANAGE_USERS,
    request: { params: UserParam, body: jsonBody(NewToken) },
    responses: { 201: { description: 'The token, shown this once' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404) },
  }),
  revokeToken: createRoute({
    method: 'delete', path: '/{username}/tokens/{tokenId}', summary: 'Revoke a token', ...MANAGE_USERS, request: { params: TokenParam },
    responses: { 204: { description: 'Revoked' }, ...problems(...AUTHENTICATED, 400, 403, 404, 413, 415, 422) },
  }),
};

export function userRoutes(store: UserStore) {
  const defs = userRouteDefs;
  const users = router();
  users.use(requirePermission('manage_users'));
  return users
    .openapi(defs.list, async (c) => c.json({ items: await store.list(), nextCursor: null }, 200))
    .openapi(defs.create, async (c) => {
      const { username, permissions } = c.req.valid('json');
      const user = await store.create(username, permissions, actorOf(c));
      return user ? c.json(user, 201) : problem(c, 409, 'user_exists', userExists(username));
    })
    .openapi(defs.setPermissions, async (c) => {
      const user = await store.setPermissions(c.req.valid('param').username, c.req.valid('json').permissions, actorOf(c));
      return user ? c.json(user, 200) : problem(c, 404, 'not_found', NO_SUCH_USER);
    })
    .openapi(defs.remove, async (c) => {
      return (await store.delete(c.req.valid('param').username, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', NO_SUCH_USER);
    })
    .openapi(defs.tokens, async (c) => {
      const tokens = await store.listTokens(c.req.valid('param').username);
      return tokens ? c.json({ items: tokens.map(tokenView), nextCursor: null }, 200) : problem(c, 404, 'not_found', NO_SUCH_USER);
    })
    .openapi(defs.createToken, async (c) => {
      const { description, expiresAt } = c.req.valid('json');
      const created = await store.createToken(c.req.valid('param').username, {
        description, ...(expiresAt !== undefined ? { expiresAt: expiresAt === null ? null : new Date(expiresAt) } : {}),
      }, actorOf(c));
      return created ? c.json({ ...tokenView(created), token: created.token }, 201) : problem(c, 404, 'not_found', NO_SUCH_USER);
    })
    .openapi(defs.revokeToken, async (c) => {
      const { username, tokenId } = c.req.valid('param');
      return (await store.revokeToken(username, tokenId, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No such active token.');
    });
}
