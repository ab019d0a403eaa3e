import { z } from 'zod';
import { PermissionName } from './permissions';
import { Username } from './usernames';

/** What an administrator sends to manage users and tokens (the API's /users routes and the users page). */
export const NewUser = z.strictObject({ username: Username, permissions: z.array(PermissionName).default([]) });
export const UserPatch = z.strictObject({ permissions: z.array(PermissionName) });
export const NewToken = z.strictObject({
  description: z.string().max(200).default(''),
  /** When the token stops working; null: never; left out: the settings' `tokenLifetimeDays` (none by default). */
  expiresAt: z.iso.datetime({ offset: true }).nullable().optional()
    .refine((v) => v === null || v === undefined || Date.parse(v) > Date.now(), 'must be in the future'),
});

export type TokenState = 'active' | 'revoked' | 'expired';

/** A token's state as listed: revoked wins over expired. */
export function tokenState(t: { revokedAt: Date | null; expiresAt: Date | null }, now = Date.now()): TokenState {
  return t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt.getTime() <= now ? 'expired' : 'active';
}

export const NO_SUCH_USER = 'No such user.';
export const userExists = (username: string) => `User '${username}' already exists.`;
