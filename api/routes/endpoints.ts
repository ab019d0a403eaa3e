import { z } from 'zod';
import type { EndpointStore } from '../../db/endpoints';
import { BackendInput, EndpointInput, EndpointPatch, NAME_TAKEN, NO_ENDPOINT } from '../../domain/endpoint-config';
import { actorOf } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { problem } from '../problem';

const IdParam = z.object({ id: z.coerce.number().int().positive() });

export const backendRouteDefs = {
  show: createRoute({
    method: 'get', path: '/', summary: 'The proxbox-api backend (API key never returned)', ...guarded(['view']),
    responses: { 200: { description: 'The backend' }, ...problems(...AUTHENTICATED, 403, 404) },
  }),
  put: createRoute({
    method: 'put', path: '/', summary: 'Configure the proxbox-api backend (a new URL needs the key again; https only unless PROXBOX_API_ALLOW_HTTP)',
    ...guarded(['manage_settings']), request: { body: jsonBody(BackendInput) },
    responses: { 200: { description: 'The backend as saved' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403) },
  }),
};

export function backendRoutes(store: EndpointStore) {
  return router()
    .openapi(backendRouteDefs.show, async (c) => {
      const b = await store.describeBackend();
      if (!b) return problem(c, 404, 'not_configured', 'No FastAPIEndpoint is configured');
      return c.json({ url: b.url, apiKeySet: true, timeoutMs: b.timeoutMs, urlRefusal: b.urlRefusal }, 200);
    })
    .openapi(backendRouteDefs.put, async (c) => {
      const saved = await store.putBackend(c.req.valid('json'), actorOf(c));
      if ('code' in saved) return problem(c, 422, saved.code, saved.detail);
      return c.json({ url: saved.url, apiKeySet: true, timeoutMs: saved.timeoutMs, urlRefusal: null }, 200);
    });
}

export const endpointRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'List Proxmox endpoints', ...guarded(['view']),
    responses: { 200: { description: 'The endpoints' }, ...problems(...AUTHENTICATED, 403) },
  }),
  create: createRoute({
    method: 'post', path: '/', summary: 'Add a Proxmox endpoint', ...guarded(['manage_settings']), request: { body: jsonBody(EndpointInput) },
    responses: { 201: { description: 'The endpoint' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 409) },
  }),
  show: createRoute({
    method: 'get', path: '/{id}', summary: 'A Proxmox endpoint', ...guarded(['view']), request: { params: IdParam },
    responses: { 200: { description: 'The endpoint' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  change: createRoute({
    method: 'patch', path: '/{id}', summary: 'Change a Proxmox endpoint', ...guarded(['manage_settings']), request: { params: IdParam, body: jsonBody(EndpointPatch) },
    responses: { 200: { description: 'The endpoint as changed' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409) },
  }),
  remove: createRoute({
    method: 'delete', path: '/{id}', summary: 'Remove a Proxmox endpoint', ...guarded(['manage_settings']), request: { params: IdParam },
    responses: { 204: { description: 'Removed' }, ...problems(...AUTHENTICATED, 400, 403, 404, 413, 415, 422) },
  }),
};

export function proxmoxEndpointRoutes(store: EndpointStore) {
  const defs = endpointRouteDefs;
  return router()
    .openapi(defs.list, async (c) => c.json({ items: await store.list(), nextCursor: null }, 200))
    .openapi(defs.create, async (c) => {
      const row = await store.create(c.req.valid('json'), actorOf(c));
      if (row === 'name_taken') return problem(c, 409, 'name_taken', NAME_TAKEN);
      return c.json(row, 201);
    })
    .openapi(defs.show, async (c) => {
      const row = await store.get(c.req.valid('param').id);
      return row ? c.json(row, 200) : problem(c, 404, 'not_found', NO_ENDPOINT);
    })
    .openapi(defs.change, async (c) => {
      const row = await store.update(c.req.valid('param').id, c.req.valid('json'), actorOf(c));
      if (row === 'name_taken') return problem(c, 409, 'name_taken', NAME_TAKEN);
      return row ? c.json(row, 200) : problem(c, 404, 'not_found', NO_ENDPOINT);
    })
    .openapi(defs.remove, async (c) => {
      return (await store.delete(c.req.valid('param').id, actorOf(c))) ? c.body(null, 204) : problem(c, 404, 'not_found', NO_ENDPOINT);
    });
}
