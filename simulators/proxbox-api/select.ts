import type { Context } from 'hono';
import type { ProxmoxEndpointInfo } from '../../contracts/proxbox-api';
import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';

/**
 * Shared endpoint selection of the proxbox-api.md §8 read routes: `endpoint_ids` (or its alias
 * `proxmox_endpoint_ids`, which wins), `name`, `domain`, `ip_address`, `port`.
 * Only enabled endpoints are loaded; unknown ids simply select nothing.
 */
export function selectEndpoints(c: Context, cluster: FakeProxmox): FakeEndpoint[] {
  const q = (k: string) => c.req.query(k);
  let list = cluster.listEndpoints().filter((e) => e.enabled);
  const ids = q('proxmox_endpoint_ids') ?? q('endpoint_ids');
  if (ids !== undefined) {
    const wanted = ids.split(',').map((s) => s.trim()).filter((s) => /^\d+$/.test(s)).map(Number);
    list = list.filter((e) => wanted.includes(e.id));
  }
  const name = q('name');
  const domain = q('domain');
  const ip = q('ip_address');
  const port = q('port');
  if (name) list = list.filter((e) => e.name === name);
  if (domain) list = list.filter((e) => e.domain === domain);
  if (ip) list = list.filter((e) => e.ip_address === ip);
  if (port) list = list.filter((e) => String(e.port) === port);
  return list;
}

/** The proxbox-api.md §3 endpoint body: no secrets and none of the simulator's own fields. */
export function endpointInfo(e: FakeEndpoint): ProxmoxEndpointInfo {
  const { cluster: _c, token_name: _t, reachable: _r, ...info } = e;
  return info;
}
