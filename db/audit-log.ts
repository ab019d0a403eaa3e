import { and, desc, eq, gte, like, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { auditLog } from './schema';
import { maskSecrets } from '../domain/audit';

/** One administrative change. `actor` is a username, `cli:<os user>` or `system:<what>`; `changes` is masked on write. */
export interface AuditEntry {
  actor: string;
  /** `<area>.<verb>`, for example `user.create`, `token.revoke`, `settings.update`, `backend.update`. */
  action: string;
  /** What was changed: `user:bob`, `token:<id>`, `settings`, `backend`, `endpoint:3`, … */
  target: string;
  changes?: Record<string, unknown>;
}

export interface AuditRow { id: number; at: Date; actor: string; action: string; target: string; changes: Record<string, unknown> }

/** A database or the transaction of the change being recorded (so the row commits or rolls back with it). */
type Executor = Pick<Db, 'insert' | 'select'>;

/** Writes one audit row; pass the change's transaction so the row is committed exactly when the change is. */
export async function record(executor: Executor, entry: AuditEntry): Promise<void> {
  await executor.insert(auditLog).values({
    actor: entry.actor, action: entry.action, target: entry.target,
    changes: maskSecrets(entry.changes ?? {}) as Record<string, unknown>,
  });
}

export interface AuditFilter {
  actor?: string;
  /** An exact action (`token.create`) or an area (`token`: every `token.*`). */
  action?: string;
  since?: Date;
  /** Rows older than this id (the cursor). */
  beforeId?: number;
  limit: number;
}

export class AuditLog {
  constructor(private readonly db: Db) {}

  record(entry: AuditEntry, executor: Executor = this.db): Promise<void> {
    return record(executor, entry);
  }

  /** Newest first. */
  async list(filter: AuditFilter): Promise<AuditRow[]> {
    const where: SQL[] = [];
    if (filter.actor) where.push(eq(auditLog.actor, filter.actor));
    if (filter.action) where.push(or(eq(auditLog.action, filter.action), like(auditLog.action, `${filter.action.replace(/[\\%_]/g, '\\$&')}.%`))!);
    if (filter.since) where.push(gte(auditLog.at, filter.since));
    if (filter.beforeId !== undefined) where.push(lt(auditLog.id, filter.beforeId));
    return this.db.select().from(auditLog).where(and(...where)).orderBy(desc(auditLog.id)).limit(filter.limit);
  }
}
