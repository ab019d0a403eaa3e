import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';

export interface GateRefusal { reason: string; detail: string; endpoint_id?: number }
export type GateResult = { ok: true; endpoint: FakeEndpoint } | { ok: false; body: GateRefusal };

/** The write gate `_gate` (proxbox-api.md §3): checks presence and `allow_writes`, never `enabled`. */
export function writeGate(cluster: FakeProxmox, endpointId: number | undefined): GateResult {
  if (endpointId === undefined) {
    return {
      ok: false,
      body: {
        reason: 'endpoint_id_required',
        detail: 'Operational verbs require an explicit endpoint_id query parameter so the gate can resolve the target Proxmox cluster.',
      },
    };
  }
  const endpoint = cluster.getEndpoint(endpointId);
  if (!endpoint) return { ok: false, body: { reason: 'endpoint_not_found', detail: `No ProxmoxEndpoint with id=${endpointId}.` } };
  if (!endpoint.allow_writes) {
    return {
      ok: false,
      body: {
        reason: 'endpoint_writes_disabled',
        detail: 'Operational verbs are disabled on this endpoint. Enable ProxmoxEndpoint.allow_writes on the NetBox side after granting core.run_proxmox_action to the operator group.',
        endpoint_id: endpointId,
      },
    };
  }
  return { ok: true, endpoint };
}
