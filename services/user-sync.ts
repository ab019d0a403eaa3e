/** `user sync-from-netbox`: creates our users from NetBox's user list; reads NetBox only, never deletes or changes a user. */
import type { NetboxClient } from '../clients/netbox';
import type { UserStore } from '../db/users';
import type { Permission } from '../domain/permissions';
import type { Actor } from '../domain/tokens';
import { planUserSync, type UserSyncPlan } from '../domain/user-sync';

export interface UserSyncResult extends UserSyncPlan {
  /** Created now (empty on a dry run). */
  created: string[];
  /** Planned but taken by someone else in the meantime: left as it is. */
  raced: string[];
}

export async function syncUsersFromNetbox(
  netbox: NetboxClient, users: UserStore, opts: { dryRun: boolean; permissions: readonly Permission[]; by: Actor },
): Promise<UserSyncResult> {
  const theirs = await netbox.users();
  const ours = await users.list();
  const plan = planUserSync(theirs.map((u) => ({ username: u.username, isActive: u.is_active })), ours.map((u) => u.username));
  const result: UserSyncResult = { ...plan, created: [], raced: [] };
  if (opts.dryRun) return result;
  for (const username of plan.create) {
    // Each creation is its own audited change (user.create), with no tokens: a token is issued deliberately.
    if (await users.create(username, opts.permissions, opts.by)) result.created.push(username);
    else result.raced.push(username);
  }
  return result;
}
