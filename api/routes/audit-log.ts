import { z } from 'zod';
import type { AuditLog, AuditRow } from '../../db/audit-log';
import { AUTHENTICATED, createRoute, guarded, problems, router } from '../openapi';
import { ListQuery, decodeCursor, page } from '../pagination';

export const AuditLogQuery = ListQuery.extend({
  actor: z.string().trim().min(1).max(200).optional(),
  /** An exact action (`token.create`) or an area (`token`). */
  action: z.string().trim().min(1).max(100).regex(/^[a-z_]+(\.[a-z_]+)*$/, 'an action such as token.create, or an area such as token').optional(),
  since: z.iso.datetime({ offset: true }).optional(),
});

export function auditView(r: AuditRow) {
  return { id: r.id, at: r.at.toISOString(), actor: r.actor, action: r.action, target: r.target, changes: r.changes };
}

export const auditLogRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'Every administrative change, newest first (secrets masked)', ...guarded(['manage_users', 'manage_settings']),
    request: { query: AuditLogQuery }, responses: { 200: { description: 'A page of the audit log' }, ...problems(...AUTHENTICATED, 403, 422) },
  }),
};

export function auditLogRoutes(audit: AuditLog) {
  return router().openapi(auditLogRouteDefs.list, async (c) => {
    const q = c.req.valid('query');
    const beforeId = decodeCursor(q.cursor, z.number().int());
    const rows = await audit.list({
      limit: q.limit, ...(q.actor ? { actor: q.actor } : {}), ...(q.action ? { action: q.action } : {}),
      ...(q.since ? { since: new Date(q.since) } : {}), ...(beforeId !== undefined ? { beforeId } : {}),
    });
    const body = page(rows, q.limit, (last) => last.id);
    return c.json({ items: body.items.map(auditView), nextCursor: body.nextCursor }, 200);
  });
}
