import { Username } from './usernames';

/** A NetBox user, as much of `GET /api/users/users/` as the comparison needs. */
export interface NetboxUserFacts { username: string; isActive: boolean }

export interface UserSyncPlan {
  /** Active NetBox users with no user here: created by `user sync-from-netbox`. */
  create: string[];
  /** NetBox users with no user here that are not created, and why (inactive, a name we cannot hold, a case twin). */
  notCreated: Array<{ username: string; reason: string }>;
  /** Users here that NetBox lacks, or holds only as an inactive user: never deleted, only reported. */
  notInNetbox: Array<{ username: string; reason: string }>;
  /** Present on both sides under the same name. */
  matched: string[];
}

/**
 * Compares NetBox's users with ours. Names match exactly, as the service looks them up (merged_by, the shim's
 * actor). NetBox refuses two usernames that differ only in case, so a case-only twin here is a misspelling
 * of the NetBox user: reported for a person to fix, never created beside it.
 */
export function planUserSync(netbox: readonly NetboxUserFacts[], ours: readonly string[]): UserSyncPlan {
  const here = new Set(ours);
  const hereByFolded = new Map(ours.map((u) => [u.toLowerCase(), u]));
  const theirs = new Map(netbox.map((u) => [u.username, u]));
  const plan: UserSyncPlan = { create: [], notCreated: [], notInNetbox: [], matched: [] };
  for (const user of [...netbox].sort((a, b) => a.username.localeCompare(b.username))) {
    if (here.has(user.username)) { plan.matched.push(user.username); continue; }
    const twin = hereByFolded.get(user.username.toLowerCase());
    if (twin !== undefined) plan.notCreated.push({ username: user.username, reason: `differs only in case from '${twin}' here; names must match exactly` });
    else if (!user.isActive) plan.notCreated.push({ username: user.username, reason: 'inactive in NetBox' });
    else if (!Username.safeParse(user.username).success) plan.notCreated.push({ username: user.username, reason: 'not a username this service accepts' });
    else plan.create.push(user.username);
  }
  for (const username of [...ours].sort((a, b) => a.localeCompare(b))) {
    const there = theirs.get(username);
    if (!there) plan.notInNetbox.push({ username, reason: 'not in NetBox' });
    else if (!there.isActive) plan.notInNetbox.push({ username, reason: 'inactive in NetBox' });
  }
  return plan;
}
