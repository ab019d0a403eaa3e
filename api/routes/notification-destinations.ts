import { z } from 'zod';
import type { DeliveryRow, DeliveryStore } from '../../db/deliveries';
import type { DestinationRefusal, NotificationDestinationStore } from '../../db/notifications';
import { NotificationDestinationInput, NotificationDestinationPatch, NotificationEvent } from '../../domain/notifications';
import { actorOf } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { ListQuery, decodeCursor, page } from '../pagination';
import { problem } from '../problem';
import type { Context } from 'hono';

const IdParam = z.object({ id: z.coerce.number().int().positive() });
const NOT_FOUND = 'No notification destination with this id.';
const MANAGE = guarded(['manage_settings']);

/** One delivery as the API shows it: what was sent (the event's type and id, never its body) and how it went. */
export function deliveryView(r: DeliveryRow) {
  const event = NotificationEvent.safeParse(r.event);
  return {
    id: r.id, destinationId: r.destinationId, channel: r.channel, subject: { type: r.subjectType, id: r.subjectId },
    event: event.success ? event.data.type : null, eventId: event.success ? event.data.id : null,
    status: r.status, attempts: r.attempts, lastError: r.lastError, receipt: r.receipt,
    createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString(), nextAttemptAt: r.status === 'pending' ? r.nextAttemptAt.toISOString() : null,
    deliveredAt: r.deliveredAt?.toISOString() ?? null,
  };
}

export const notificationDestinationRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'Notification destinations (URL shortened, secret never returned)', ...MANAGE,
    responses: { 200: { description: 'The destinations' }, ...problems(...AUTHENTICATED, 403) },
  }),
  create: createRoute({
    method: 'post', path: '/', summary: 'Add a notification destination (a signed webhook or a Slack-compatible incoming webhook)', ...MANAGE,
    request: { body: jsonBody(NotificationDestinationInput) },
    responses: { 201: { description: 'The destination' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 409) },
  }),
  show: createRoute({
    method: 'get', path: '/{id}', summary: 'A notification destination', ...MANAGE, request: { params: IdParam },
    responses: { 200: { description: 'The destination' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  change: createRoute({
    method: 'patch', path: '/{id}', summary: 'Change a notification destination (name, URL, secret, events, enabled)', ...MANAGE,
    request: { params: IdParam, body: jsonBody(NotificationDestinationPatch) },
    responses: { 200: { description: 'The destination as changed' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409) },
  }),
  remove: createRoute({
    method: 'delete', path: '/{id}', summary: 'Remove a notification destination (its pending deliveries are skipped)', ...MANAGE, request: { params: IdParam },
    responses: { 204: { description: 'Removed' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  test: createRoute({
    method: 'post', path: '/{id}/test', summary: 'Send a test event to this destination (delivered and recorded like any other)', ...MANAGE,
    request: { params: IdParam },
    responses: { 202: { description: 'Enqueued: see its deliveries' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  deliveries: createRoute({
    method: 'get', path: '/{id}/deliveries', summary: 'Deliveries to this destination, newest first (status, attempts, last error)', ...MANAGE,
    request: { params: IdParam, query: ListQuery },
    responses: { 200: { description: 'A page of deliveries' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
};

function refusal(c: Context, r: DestinationRefusal) {
  return problem(c, r.code === 'name_taken' ? 409 : 422, r.code, r.detail);
}

export function notificationDestinationRoutes(deps: { destinations: NotificationDestinationStore; deliveries: DeliveryStore }) {
  const defs = notificationDestinationRouteDefs;
  const { destinations } = deps;
  return router()
    .openapi(defs.list, async (c) => c.json({ items: await destinations.list(), nextCursor: null }, 200))
    .openapi(defs.create, async (c) => {
      const made = await destinations.create(c.req.valid('json'), actorOf(c));
      return 'code' in made ? refusal(c, made) : c.json(made, 201);
    })
    .openapi(defs.show, async (c) => {
      const d = await destinations.get(c.req.valid('param').id);
      return d ? c.json(d, 200) : problem(c, 404, 'not_found', NOT_FOUND);
    })
    .openapi(defs.change, async (c) => {
      const d = await destinations.update(c.req.valid('param').id, c.req.valid('json'), actorOf(c));
      if (!d) return problem(c, 404, 'not_found', NOT_FOUND);
      return 'code' in d ? refusal(c, d) : c.json(d, 200);
    })
    .openapi(defs.remove, async (c) => ((await destinations.delete(c.req.valid('param').id, actorOf(c)))
      ? c.body(null, 204) : problem(c, 404, 'not_found', NOT_FOUND)))
    .openapi(defs.test, async (c) => {
      const sent = await destinations.sendTest(c.req.valid('param').id, actorOf(c));
      return sent ? c.json(sent, 202) : problem(c, 404, 'not_found', NOT_FOUND);
    })
    .openapi(defs.deliveries, async (c) => {
      const { id } = c.req.valid('param');
      if (!(await destinations.get(id))) return problem(c, 404, 'not_found', NOT_FOUND);
      const q = c.req.valid('query');
      const beforeId = decodeCursor(q.cursor, z.number().int());
      const rows = await deps.deliveries.forDestination(id, { limit: q.limit, ...(beforeId !== undefined ? { beforeId } : {}) });
      const body = page(rows, q.limit, (last) => last.id);
      return c.json({ items: body.items.map(deliveryView), nextCursor: body.nextCursor }, 200);
    });
}
