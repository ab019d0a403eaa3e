import { Hono } from 'hono';
import { z } from 'zod';
import type { EndpointStore } from '../../db/endpoints';
import { actorOf, requirePermission, type AuthEnv } from '../auth';
import { problem } from '../problem';
import { validate } from '../validation';

export const BackendInput = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().min(1).max(500).optional(),
  timeoutMs: z.number().int().min(100).max(600_000).optional(),
});

const endpointFields = {
  name: z.string().trim().min(1).max(100),
  backendEndpointId: z.number().int().positive(),
  allowWrites: z.boolean(),
  clusters: z.array(z.string().trim().min(1).max(100)).max(500),
  isDefault: z.boolean(),
};
export const EndpointInput = z.strictObject({
  ...endpointFields,
  allowWrites: endpointFields.allowWrites.default(false),
  clusters: endpointFields.clusters.default([]),
  isDefault: endpointFields.isDefault.default(false),
});
// No defaults here: a PATCH changes only the fields it names (`{allowWrites: false}` must not empty `clusters`).
export const EndpointPatch = z.strictObject(endpointFields).partial().refine((p) => Object.keys(p).length > 0, 'at least one field is required');

const IdParam = z.object({ id: z.coerce.number().int().positive() });

export function backendRoutes(store: EndpointStore) {
  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), async (c) => {
      const b = await store.describeBackend();
      if (!b) return problem(c, 404, 'not_configured', 'No FastAPIEndpoint is configured');
      return c.json({ url: b.url, apiKeySet: true, timeoutMs: b.timeoutMs, urlRefusal: b.urlRefusal });
    })
    .put('/', requirePermission('manage_settings'), validate('json', BackendInput), async (c) => {
      const saved = await store.putBackend(c.req.valid('json'), actorOf(c));
      if ('code' in saved) return problem(c, 422, saved.code, saved.detail);
      return c.json({ url: saved.url, apiKeySet: true, timeoutMs: saved.timeoutMs, urlRefusal: null });
    });
}

export function proxmoxEndpointRoutes(store: EndpointStore) {
  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), async (c) => c.json({ items: await store.list(), nextCursor: null }))
    .post('/', requirePermission('manage_settings'), validate('json', EndpointInput), async (c) => {
      const row = await store.create(c.req.valid('json'), actorOf(c));
      if (row === 'name_taken') return problem(c, 409, 'name_taken', 'An endpoint with this name already exists.');
      return c.json(row, 201);
    })
    .get('/:id', requirePermission('view'), validate('param', IdParam), async (c) => {
      const row = await store.get(c.req.valid('param').id);
      return row ? c.json(row) : problem(c, 404, 'not_found', 'No Proxmox endpoint with this id.');
    })
    .patch('/:id', requirePermission('manage_settings'), validate('param', IdParam), validate('json', EndpointPatch), async (c) => {
      const row = await store.update(c.req.valid('param').id, c.req.valid('json'), actorOf(c));
      if (row === 'name_taken') return problem(c, 409, 'name_taken', 'An endpoint with this name already exists.');
      return row ? c.json(row) : problem(c, 404, 'not_found', 'No Proxmox endpoint with this id.');
    })
    .delete('/:id', requirePermission('manage_settings'), validate('param', IdParam), async (c) => {
      return (await store.delete(c.req.valid('param').id, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', 'No Proxmox endpoint with this id.');
    });
}
