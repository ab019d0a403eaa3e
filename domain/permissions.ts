import { z } from 'zod';
import type { GuestKind } from './guest-kind';

export const INTENT_PERMISSIONS = [
  'intent_create_vm', 'intent_update_vm', 'intent_delete_vm',
  'intent_create_lxc', 'intent_update_lxc', 'intent_delete_lxc',
  'authorize_deletion_request',
] as const;
/** `reapply_merge`: apply a merge older than RECONCILE_LOOKBACK_H, deliberately (with a typed confirmation). */
export const SERVICE_PERMISSIONS = ['view', 'trigger_apply', 'reapply_merge', 'cancel_apply_job', 'manage_settings', 'manage_users'] as const;
export const ALL_PERMISSIONS = [...INTENT_PERMISSIONS, ...SERVICE_PERMISSIONS] as const;

export type Permission = (typeof ALL_PERMISSIONS)[number];
export type IntentOp = 'create' | 'update' | 'delete';

const PREFIX = 'netbox_proxbox.';

/** Accepts a permission with or without the seed's `netbox_proxbox.` prefix. */
export const PermissionName = z
  .string()
  .transform((s) => (s.startsWith(PREFIX) ? s.slice(PREFIX.length) : s))
  .pipe(z.enum(ALL_PERMISSIONS, { error: (iss) => `unknown permission '${String(iss.input)}'` }));

export function normalizePermissions(names: readonly string[]): Permission[] {
  return [...new Set(names.map((n) => PermissionName.parse(n)))].sort();
}

/** The permission a user needs to request `op` on a guest of `kind` (qemu maps to the seed's `_vm`). */
export function requiredPermissionFor(op: IntentOp, kind: GuestKind): Permission {
  return `intent_${op}_${kind === 'qemu' ? 'vm' : 'lxc'}`;
}

export function hasPermission(held: readonly string[], needed: Permission): boolean {
  return held.some((p) => (p.startsWith(PREFIX) ? p.slice(PREFIX.length) : p) === needed);
}
