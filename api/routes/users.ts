import { Hono } from 'hono';
import { z } from 'zod';
import type { UserStore } from '../../db/users';
import { PermissionName } from '../../domain/permissions';
import { requirePermission, type AuthEnv } from '../auth';
import { problem } from '../problem';
import { validate } from '../validation';

export const Username = z.string().trim().min(1).max(150).regex(/^[\w.@+-]+$/, 'letters, digits and @.+-_ only (a NetBox username)');
export const NewUser = z.strictObject({ username: Username, permissions: z.array(PermissionName).default([]) });
export const UserPatch = z.strictObject({ permissions: z.array(PermissionName) });
export const NewToken = z.strictObject({ description: z.string().max(200).default('') });

const UserParam = z.object({ username: Username });
const TokenParam = z.object({ username: Username, tokenId: z.uuid() });

export function userRoutes(store: UserStore) {
  return new Hono<AuthEnv>()
    .use(requirePermission('manage_users'))
    .get('/', async (c) => c.json({ items: await store.list(), nextCursor: null }))
    .post('/', validate('json', NewUser), async (c) => {
      const { username, permissions } = c.req.valid('json');
      const user = await store.create(username, permissions);
      return user ? c.json(user, 201) : problem(c, 409, 'user_exists', `User '${username}' already exists.`);
    })
    .patch('/:username', validate('param', UserParam), validate('json', UserPatch), async (c) => {
      const user = await store.setPermissions(c.req.valid('param').username, c.req.valid('json').permissions);
      return user ? c.json(user) : problem(c, 404, 'not_found', 'No such user.');
    })
    .delete('/:username', validate('param', UserParam), async (c) => {
      return (await store.delete(c.req.valid('param').username)) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No such user.');
    })
    .post('/:username/tokens', validate('param', UserParam), validate('json', NewToken), async (c) => {
      const created = await store.createToken(c.req.valid('param').username, c.req.valid('json').description);
      return created ? c.json(created, 201) : problem(c, 404, 'not_found', 'No such user.');
    })
    .delete('/:username/tokens/:tokenId', validate('param', TokenParam), async (c) => {
      const { username, tokenId } = c.req.valid('param');
      return (await store.revokeToken(username, tokenId)) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No such active token.');
    });
}
