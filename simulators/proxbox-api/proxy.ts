import { Hono, type Context } from 'hono';
import type { FakeEndpoint, FakeProxmox } from './fake-proxmox';
import { e1, e4, errorsOf, intParam, pathParam } from './http';
import type { PveApi } from './pve-api';
import { errorText, PveConnectionError } from './pve-errors';
import { NO_SESSIONS } from './reads';

type Result = { ok: true; endpoint: FakeEndpoint } | { ok: false; response: Response };

/** Target selection of the generated proxy: `target_name`, `target_domain` or `target_ip_address` (proxbox-api.md §8.3). */
function target(c: Context, cluster: FakeProxmox): Result {
  const name = c.req.query('target_name');
  const domain = c.req.query('target_domain');
  const ip = c.req.query('target_ip_address');
  const enabled = cluster.listEndpoints().filter((e) => e.enabled);
  if (name || domain || ip) {
    const hit = enabled.find((e) => (!name || e.name === name) && (!domain || e.domain === domain) && (!ip || e.ip_address === ip));
    return hit ? { ok: true, endpoint: hit } : { ok: false, response: e4(c, 400, 'No Proxmox endpoint matches the requested target.') };
  }
  if (enabled.length === 1) return { ok: true, endpoint: enabled[0]! };
  if (enabled.length === 0) return { ok: false, response: e4(c, 400, NO_SESSIONS) };
  return { ok: false, response: e4(c, 400, 'Multiple Proxmox endpoints configured; provide name, domain, or ip_address.') };
}

const operationId = (template: string) => `get${template.replace(/[{}]/g, '').replace(/\//g, '_')}`;

/**
 * A generated GET operation: resolves the target, calls fake Proxmox and maps its failures to the
 * generic E4 400 of the generated routes.
 */
function proxied(cluster: FakeProxmox, template: () => string, run: (api: PveApi, c: Context) => unknown | Response) {
  return (c: Context) => {
    const t = target(c, cluster);
    if (!t.ok) return t.response;
    const path = template();
    try {
      const out = run(cluster.connect(t.endpoint.id), c);
      return out instanceof Response ? out : c.json(out as object);
    } catch (e) {
      if (e instanceof PveConnectionError) return e4(c, 400, NO_SESSIONS, errorText(e));
      return e4(c, 400, `Generated Proxmox proxy request failed for GET ${path}.`, `Operation ID: ${operationId(path)}`);
    }
  };
}

/** The proxbox-api.md §8.3 operations the simulator generates; mounted at `/proxmox/api2/latest` and the hidden `/proxmox/api2`. */
export function proxyRoutes(cluster: FakeProxmox): Hono {
  const app = new Hono();
  const vmidOr422 = (c: Context, then: (vmid: number) => unknown) => {
    const vmid = intParam(pathParam(c, 'vmid'), 'path', 'vmid', true);
    return vmid.ok ? then(vmid.value!) : e1(c, errorsOf(vmid));
  };

  app.get('/nodes', proxied(cluster, () => '/nodes', (api) => api.listNodes()));
  app.get('/nodes/:node/tasks/:upid/status', proxied(cluster, () => '/nodes/{node}/tasks/{upid}/status',
    (api, c) => api.taskStatus(pathParam(c, 'node'), pathParam(c, 'upid'))));
  for (const type of ['qemu', 'lxc'] as const) {
    app.get(`/nodes/:node/${type}`, proxied(cluster, () => `/nodes/{node}/${type}`, (api, c) => api.listGuests(pathParam(c, 'node'), type)));
    app.get(`/nodes/:node/${type}/:vmid/status/current`, proxied(cluster, () => `/nodes/{node}/${type}/{vmid}/status/current`,
      (api, c) => vmidOr422(c, (vmid) => api.statusCurrent(pathParam(c, 'node'), type, vmid))));
    app.get(`/nodes/:node/${type}/:vmid/config`, proxied(cluster, () => `/nodes/{node}/${type}/{vmid}/config`,
      (api, c) => vmidOr422(c, (vmid) => api.getConfig(pathParam(c, 'node'), type, vmid))));
  }
  app.get('/nodes/:node/storage/:storage/content', proxied(cluster, () => '/nodes/{node}/storage/{storage}/content',
    (api, c) => api.storageContent(pathParam(c, 'node'), pathParam(c, 'storage'), c.req.query('content'))));
  app.get('/cluster/resources', proxied(cluster, () => '/cluster/resources', (api, c) => api.clusterResources(c.req.query('type'))));
  app.get('/cluster/nextid', proxied(cluster, () => '/cluster/nextid', (api, c) => {
    const vmid = intParam(c.req.query('vmid'), 'query', 'vmid', false);
    return vmid.ok ? api.nextId(vmid.value) : e1(c, errorsOf(vmid));
  }));
  return app;
}

/** Paths of the generated routes as `/openapi.json` lists them. */
export const PROXY_OPENAPI_PATHS = [
  '/nodes', '/nodes/{node}/tasks/{upid}/status', '/nodes/{node}/qemu', '/nodes/{node}/lxc',
  '/nodes/{node}/qemu/{vmid}/status/current', '/nodes/{node}/lxc/{vmid}/status/current',
  '/nodes/{node}/qemu/{vmid}/config', '/nodes/{node}/lxc/{vmid}/config', '/nodes/{node}/storage/{storage}/content',
  '/cluster/resources', '/cluster/nextid',
].map((p) => `/proxmox/api2/latest${p}`);
