import { intentEnabled, type IntentSettings } from './settings';
import type { GuestKind } from './guest-kind';
import { hasPermission, requiredPermissionFor, type IntentOp } from './permissions';
import { MESSAGES } from './messages';
import type { GateReason } from './result-reasons';

export type Gate = 'master_flag' | 'opt_in' | 'permission' | 'destroy_confirmation' | 'backend' | 'endpoint' | 'endpoint_writes';

export interface ClosedGate { gate: Gate; reason: GateReason; message: string }

export interface GateInput {
  settings: Pick<IntentSettings, 'netboxToProxmoxEnabled' | 'typedConfirmation'>;
  optedIn: boolean;
  destroyConfirmed: boolean;
  backendConfigured: boolean;
  endpoint: { allowWrites: boolean } | null;
  /** null when no user is known (a plan without `actor`): the permission gate is not evaluated. */
  permissions: readonly string[] | null;
  op: IntentOp;
  kind: GuestKind;
}

/**
 * The first closed gate for one change, or null when every gate is open. Evaluated when a run starts and again
 * right before each Proxmox write, because settings can change while a run or an approval waits.
 */
export function firstClosedGate(g: GateInput): ClosedGate | null {
  if (!intentEnabled(g.settings)) return { gate: 'master_flag', reason: 'master_flag_disabled', message: MESSAGES.masterFlagDisabled };
  if (!g.optedIn) return { gate: 'opt_in', reason: 'branch_not_opted_in', message: MESSAGES.notOptedIn };
  if (g.permissions !== null) {
    const needed = requiredPermissionFor(g.op, g.kind);
    if (!hasPermission(g.permissions, needed)) return { gate: 'permission', reason: 'permission_denied', message: `${MESSAGES.permissionDenied}: ${needed}` };
  }
  if (g.op === 'delete' && !g.destroyConfirmed) return { gate: 'destroy_confirmation', reason: 'destroy_not_confirmed', message: MESSAGES.destroyNotConfirmed };
  if (!g.backendConfigured) return { gate: 'backend', reason: 'no_backend', message: MESSAGES.noBackend };
  if (!g.endpoint) return { gate: 'endpoint', reason: 'no_endpoint_for_cluster', message: 'No Proxmox endpoint serves this VM\'s cluster' };
  if (!g.endpoint.allowWrites) return { gate: 'endpoint_writes', reason: 'writes_disabled_for_endpoint', message: MESSAGES.writesDisabled };
  return null;
}

/** proxbox-api's own view of an endpoint (`GET /proxmox/endpoints/{id}`), or null when it knows no such endpoint. */
export type UpstreamEndpoint = { enabled: boolean; allowWrites: boolean } | null;

/**
 * proxbox-api's gate, as it stands right before a write. Its own write gate ignores `enabled` while its read routes
 * skip disabled endpoints (proxbox-api.md §3), so a write to a disabled endpoint would land and then be unverifiable:
 * both flags must be on.
 */
export function upstreamEndpointGate(endpoint: UpstreamEndpoint): ClosedGate | null {
  if (!endpoint) return { gate: 'endpoint', reason: 'endpoint_not_found', message: 'proxbox-api has no such Proxmox endpoint' };
  if (!endpoint.enabled || !endpoint.allowWrites) return { gate: 'endpoint_writes', reason: 'writes_disabled_for_endpoint', message: MESSAGES.writesDisabled };
  return null;
}
