import { Hono, type Context } from 'hono';
import type { FakeEndpoint, FakeProxmox, GuestType } from './fake-proxmox';
import { isDiskKey, storageOf } from './disk-spec';
import { e1, e2, e4, e5, errorsOf, intParam, pathParam } from './http';
import { errorText, PveConnectionError } from './pve-errors';
import { endpointInfo, selectEndpoints } from './select';
import type { PveApi } from './pve-api';

export const NO_SESSIONS = 'Could not return Proxmox Sessions';
export const CONFIG_NOT_FOUND = 'VM Config not found.';

/** Fields of the upstream cluster-resource model; ones Proxmox did not return come back as null (proxbox-api.md §8.1). */
const DECLARED = [
  'id', 'type', 'vmid', 'node', 'name', 'status', 'lock', 'tags', 'template', 'hastate', 'pool', 'maxcpu', 'maxmem', 'mem',
  'maxdisk', 'disk', 'uptime', 'cpu', 'netin', 'netout', 'storage', 'content', 'plugintype', 'shared', 'level',
] as const;

/** LXC config keys outside the upstream config response model: reading them fails response validation (proxbox-api.md §8.2). */
const UNMODELLED_LXC_KEY = /^(mp\d+|dev\d+|timezone|tty|cmode|console|entrypoint|env|lxc)$/;

const TYPES = ['vm', 'storage', 'node', 'sdn'];

function modelled(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of DECLARED) out[key] = raw[key] ?? null;
  if (typeof out.template === 'number') out.template = out.template === 1;
  for (const [k, v] of Object.entries(raw)) if (!(k in out)) out[k] = v;
  return out;
}

/** Opens a session per endpoint; any failure is the E4 400 `Could not return Proxmox Sessions`. */
function sessions(cluster: FakeProxmox, endpoints: FakeEndpoint[]): PveApi[] | Error {
  try {
    return endpoints.map((e) => cluster.connect(e.id));
  } catch (e) {
    if (e instanceof PveConnectionError) return e;
    throw e;
  }
}

function optionsOf(value: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) out[part] = null;
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The two computed fields upstream adds to a config: parsed `networks` and `disks`. */
function withComputed(type: GuestType, config: Record<string, unknown>): Record<string, unknown> {
  const networks = Object.entries(config).filter(([k]) => /^net\d+$/.test(k)).map(([k, v]) => ({ [k]: optionsOf(String(v)) }));
  const disks = Object.entries(config).filter(([k]) => isDiskKey(type, k)).map(([k, v]) => {
    const [volume = '', ...rest] = String(v).split(',');
    return { [k]: { storage: storageOf(volume), volume: volume.includes(':') ? volume.slice(volume.indexOf(':') + 1) : volume, ...optionsOf(rest.join(',')) } };
  });
  return { ...config, disks, networks };
}

function clusterResources(c: Context, cluster: FakeProxmox) {
  const type = c.req.query('type');
  if (type !== undefined && !TYPES.includes(type)) {
    const expected = "'vm', 'storage', 'node' or 'sdn'";
    return e1(c, [{ type: 'literal_error', loc: ['query', 'type'], msg: `Input should be ${expected}`, input: type, ctx: { expected } }]);
  }
  const endpoints = selectEndpoints(c, cluster);
  const apis = sessions(cluster, endpoints);
  if (apis instanceof Error) return e4(c, 400, NO_SESSIONS, errorText(apis));
  try {
    return c.json(apis.map((api) => ({
      [cluster.clusterKey(api.endpoint.id)]: type === 'sdn' ? [] : api.clusterResources(type).map(modelled),
    })));
  } catch (e) {
    return e4(c, 502, 'Error fetching Proxmox cluster resources', errorText(e));
  }
}

function guestConfig(c: Context, cluster: FakeProxmox) {
  const vmid = intParam(c.req.param('vmid'), 'path', 'vmid', true);
  if (!vmid.ok) return e1(c, errorsOf(vmid));
  const type = pathParam(c, 'type');
  if (type !== 'qemu' && type !== 'lxc') return e4(c, 400, "Invalid VM Type. Use 'qemu' or 'lxc'.", "Invalid VM Type. Use 'qemu' or 'lxc'.");
  const apis = sessions(cluster, selectEndpoints(c, cluster));
  if (apis instanceof Error) return e4(c, 400, NO_SESSIONS, errorText(apis));
  const failures: string[] = [];
  for (const api of apis) {
    try {
      const config = api.getConfig(pathParam(c, 'node'), type, vmid.value!);
      if (type === 'lxc' && Object.keys(config).some((k) => UNMODELLED_LXC_KEY.test(k))) return e5(c);
      return c.json(withComputed(type, config));
    } catch (e) {
      failures.push(`${api.endpoint.name}: ${errorText(e)}`);
    }
  }
  return e4(c, 400, CONFIG_NOT_FOUND,
    `VM Config not found. Check if the 'node', 'type', and 'vmid' are correct. Session errors: ${failures.join('; ')}`);
}

function nodeQemu(c: Context, cluster: FakeProxmox) {
  let endpoints = selectEndpoints(c, cluster);
  const clusterName = c.req.query('cluster_name');
  if (clusterName) endpoints = endpoints.filter((e) => cluster.clusterKey(e.id) === clusterName);
  else if (endpoints.length > 1) return e4(c, 400, 'cluster_name is required when several endpoints are selected.');
  const apis = sessions(cluster, endpoints);
  if (apis instanceof Error) return e4(c, 400, NO_SESSIONS, errorText(apis));
  try {
    return c.json(apis.map((api) => ({ [cluster.clusterKey(api.endpoint.id)]: api.listGuests(pathParam(c, 'node'), 'qemu') })));
  } catch (e) {
    return e4(c, 502, 'Error fetching Proxmox node VMs', errorText(e));
  }
}

function storageContent(c: Context, cluster: FakeProxmox) {
  const node = pathParam(c, 'node');
  const storage = pathParam(c, 'storage');
  const endpoint = selectEndpoints(c, cluster).find((e) => cluster.findStorage(e.id, node, storage));
  if (!endpoint) return e2(c, 404, 'Node or Storage not found');
  try {
    return c.json(cluster.connect(endpoint.id).storageContent(node, storage, c.req.query('content')));
  } catch (e) {
    if (e instanceof PveConnectionError) return e4(c, 400, NO_SESSIONS, errorText(e));
    return e4(c, 502, 'Error fetching Proxmox storage content', errorText(e));
  }
}

/** proxbox-api.md §3 endpoint reads and the proxbox-api.md §8.1, §8.2 and §8.4 guest-state reads. */
export function readRoutes(cluster: FakeProxmox): Hono {
  const app = new Hono();
  app.get('/proxmox/endpoints', (c) => {
    const offset = intParam(c.req.query('offset'), 'query', 'offset', false);
    const limit = intParam(c.req.query('limit'), 'query', 'limit', false);
    const errors = errorsOf(offset, limit);
    if (offset.ok && (offset.value ?? 0) < 0) {
      errors.push({ type: 'greater_than_equal', loc: ['query', 'offset'], msg: 'Input should be greater than or equal to 0', input: c.req.query('offset'), ctx: { ge: 0 } });
    }
    if (limit.ok && (limit.value ?? 100) > 100) {
      errors.push({ type: 'less_than_equal', loc: ['query', 'limit'], msg: 'Input should be less than or equal to 100', input: c.req.query('limit'), ctx: { le: 100 } });
    }
    if (errors.length || !offset.ok || !limit.ok) return e1(c, errors);
    const start = offset.value ?? 0;
    return c.json(cluster.listEndpoints().slice(start, start + (limit.value ?? 100)).map(endpointInfo));
  });
  app.get('/proxmox/endpoints/:id', (c) => {
    const id = intParam(c.req.param('id'), 'path', 'id', true);
    if (!id.ok) return e1(c, id.errors);
    const endpoint = cluster.getEndpoint(id.value!);
    return endpoint ? c.json(endpointInfo(endpoint)) : e2(c, 404, 'Proxmox endpoint not found');
  });
  app.get('/proxmox/cluster/resources', (c) => clusterResources(c, cluster));
  app.get('/proxmox/nodes/:node/qemu', (c) => nodeQemu(c, cluster));
  app.get('/proxmox/nodes/:node/storage/:storage/content', (c) => storageContent(c, cluster));
  app.get('/proxmox/:node/:type/:vmid/config', (c) => guestConfig(c, cluster));
  return app;
}
