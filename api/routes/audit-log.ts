import { z } from 'zod';
import type { AuditLog, AuditRow } from '../../db/audit-log';
import { AuditFilterFields } from '../../domain/audit';
import { AUTHENTICATED, createRoute, guarded, problems, router } from '../openapi';
import { ListQuery, decodeCursor, page } from '../pagination';

export const AuditLogQuery = ListQuery.extend(AuditFilterFields);

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
