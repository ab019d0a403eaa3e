import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog, AuditRow } from '../../db/audit-log';
import { requireAnyPermission, type AuthEnv } from '../auth';
import { ListQuery, decodeCursor, page } from '../pagination';
import { validate } from '../validation';

export const AuditLogQuery = ListQuery.extend({
  actor: z.string().trim().min(1).max(200).optional(),
  /** An exact action (`token.create`) or an area (`token`). */
  action: z.string().trim().min(1).max(100).regex(/^[a-z_]+(\.[a-z_]+)*$/, 'an action such as token.create, or an area such as token').optional(),
  since: z.iso.datetime({ offset: true }).optional(),
});

export function auditView(r: AuditRow) {
  return { id: r.id, at: r.at.toISOString(), actor: r.actor, action: r.action, target: r.target, changes: r.changes };
}

export function auditLogRoutes(audit: AuditLog) {
  return new Hono<AuthEnv>()
    .get('/', requireAnyPermission('manage_users', 'manage_settings'), validate('query', AuditLogQuery), async (c) => {
      const q = c.req.valid('query');
      const beforeId = decodeCursor(q.cursor, z.number().int());
      const rows = await audit.list({
        limit: q.limit, ...(q.actor ? { actor: q.actor } : {}), ...(q.action ? { action: q.action } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}), ...(beforeId !== undefined ? { beforeId } : {}),
      });
      const body = page(rows, q.limit, (last) => last.id);
      return c.json({ items: body.items.map(auditView), nextCursor: body.nextCursor });
    });
}
