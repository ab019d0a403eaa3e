import { Hono } from 'hono';
import type { FakeProxmox } from './fake-proxmox';
import { e1, e2, errorsOf, intParam, pathParam } from './http';
import { errorText, PveError } from './pve-errors';

/** proxbox-api.md §10 (b) `GET /intent/tasks/{node}/{upid}?endpoint_id=N`, served only while the capability is on. */
export function taskRoutes(cluster: FakeProxmox, enabled: () => boolean): Hono {
  const app = new Hono();
  app.get('/intent/tasks/:node/:upid', (c, next) => {
    if (!enabled()) return next();
    const endpointId = intParam(c.req.query('endpoint_id'), 'query', 'endpoint_id', true);
    if (!endpointId.ok) return e1(c, errorsOf(endpointId));
    const endpoint = cluster.getEndpoint(endpointId.value!);
    if (!endpoint || !endpoint.enabled) return e2(c, 404, `No ProxmoxEndpoint with id=${endpointId.value}.`);
    const node = pathParam(c, 'node');
    try {
      const raw = cluster.connect(endpoint.id).taskStatus(node, pathParam(c, 'upid'));
      return c.json({ ...raw, exitstatus: raw.exitstatus ?? null });
    } catch (e) {
      if (e instanceof PveError && e.notFound) return e2(c, 404, `Task not found on node '${node}'.`);
      return e2(c, 502, errorText(e));
    }
  });
  return app;
}
