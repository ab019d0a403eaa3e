import { and, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { deletionRequests, type DeletionHistoryEntry } from './schema';
import { record } from './audit-log';
import { MANUALLY_CONFIRMABLE_REASONS, REFUSAL_RECORD_INTERVAL_MS, type DeletionState } from '../domain/deletion-rules';
import { deletionWriteback } from '../domain/netbox-writeback';
import { deletionNotification } from '../domain/notifications';
import { enqueueDeliveries, type DbOrTx } from './deliveries';
import { approversFor, enqueueNotifications } from './notifications';

/**
 * Tells NetBox (netbox.md §7.6) and the notification destinations about a deletion request's new state: call it in the
 * transaction that moved the row there. `transition` and `ensure` do; a new transition written by another statement
 * calls it the same way, with `actor` when the row does not say who caused it.
 */
export async function enqueueDeletionDeliveries(tx: DbOrTx, row: DeletionRow, actor: string | null = null): Promise<void> {
  const subject = { type: 'deletion_request', id: String(row.id) } as const;
  const delivery = deletionWriteback(row, actor);
  if (delivery) await enqueueDeliveries(tx, subject, [delivery]);
  const approvers = row.state === 'pending' ? await approversFor(tx, row.requestedBy) : [];
  const event = deletionNotification(row, { actor, approvers, at: new Date() });
  if (event) await enqueueNotifications(tx, subject, [event]);
}

export type DeletionRow = typeof deletionRequests.$inferSelect;
export type NewDeletionRequest = Omit<typeof deletionRequests.$inferInsert, 'id' | 'state' | 'history'>;

export class DeletionRequestStore {
  constructor(private readonly db: Db) {}

  /** Creates the request for a workflow id once; a retried activity gets the same row back. */
  async ensure(input: NewDeletionRequest, actor: string): Promise<DeletionRow> {
    const history: DeletionHistoryEntry[] = [{ at: new Date().toISOString(), actor, action: 'requested', outcome: 'ok' }];
    const inserted = await this.db.transaction(async (tx) => {
      const [row] = await tx.insert(deletionRequests).values({ ...input, history })
        .onConflictDoNothing({ target: deletionRequests.workflowId }).returning();
      if (row) await enqueueDeletionDeliveries(tx, row);
      return row;
    });
    return inserted ?? (await this.byWorkflowId(input.workflowId))!;
  }

  async get(id: number): Promise<DeletionRow | undefined> {
    const [row] = await this.db.select().from(deletionRequests).where(eq(deletionRequests.id, id));
    return row;
  }

  async byWorkflowId(workflowId: string): Promise<DeletionRow | undefined> {
    const [row] = await this.db.select().from(deletionRequests).where(eq(deletionRequests.workflowId, workflowId));
    return row;
  }

  async list(filter: { state?: DeletionState; states?: readonly DeletionState[]; branchId?: number; vmid?: number; limit: number; afterId?: number }): Promise<DeletionRow[]> {
    const where: SQL[] = [];
    if (filter.state) where.push(eq(deletionRequests.state, filter.state));
    if (filter.states) where.push(inArray(deletionRequests.state, [...filter.states]));
    if (filter.branchId !== undefined) where.push(eq(deletionRequests.branchId, filter.branchId));
    if (filter.vmid !== undefined) where.push(eq(deletionRequests.vmid, filter.vmid));
    if (filter.afterId !== undefined) where.push(lt(deletionRequests.id, filter.afterId));
    return this.db.select().from(deletionRequests).where(and(...where)).orderBy(desc(deletionRequests.id)).limit(filter.limit);
  }

  /**
   * Writes a transition and its history entry in one statement. With `from`, only while the request is in one of
   * those states (compare-and-set across processes); undefined when it was not.
   */
  async transition(id: number, patch: Partial<Omit<DeletionRow, 'id' | 'history'>>, entry: DeletionHistoryEntry,
    from?: readonly DeletionState[]): Promise<DeletionRow | undefined> {
    const where = from ? and(eq(deletionRequests.id, id), inArray(deletionRequests.state, [...from])) : eq(deletionRequests.id, id);
    const update = (db: Pick<Db, 'update'>) => db.update(deletionRequests)
      .set({ ...patch, history: sql`${deletionRequests.history} || ${JSON.stringify([entry])}::jsonb` })
      .where(where).returning();
    // A change of state is told to NetBox, in the same transaction (the compare-and-set lets one writer win).
    if (!patch.state) return (await update(this.db))[0];
    return this.db.transaction(async (tx) => {
      const [row] = await update(tx);
      if (row) await enqueueDeletionDeliveries(tx, row);
      return row;
    });
  }

  /**
   * The one write of a confirmed manual destroy: `failed` (with the reason code the confirmer's check saw, one of
   * MANUALLY_CONFIRMABLE_REASONS) becomes `succeeded` with `manually_destroyed`, the confirmer and a history entry, in
   * one conditional UPDATE, so of two confirmers (or a confirmation and anything else) exactly one wins; its audit-log
   * row commits in the same transaction. Undefined when the request was no longer in that state.
   */
  async confirmManuallyDestroyed(row: Pick<DeletionRow, 'id' | 'reasonCode' | 'kind' | 'vmid' | 'node' | 'name'>,
    confirmation: { by: string; tokenIssuers: readonly string[]; at: Date; reason: string; detail: string }): Promise<DeletionRow | undefined> {
    const { by, at, reason, detail } = confirmation;
    const entry: DeletionHistoryEntry = { at: at.toISOString(), actor: by, action: 'confirm_destroyed', outcome: 'ok', detail };
    return this.db.transaction(async (tx) => {
      const [updated] = await tx.update(deletionRequests)
        .set({
          state: 'succeeded', reasonCode: 'manually_destroyed', reason, confirmedBy: by, finishedAt: at, taggedPendingDeletion: false,
          history: sql`${deletionRequests.history} || ${JSON.stringify([entry])}::jsonb`,
        })
        .where(and(eq(deletionRequests.id, row.id), eq(deletionRequests.state, 'failed'), eq(deletionRequests.reasonCode, row.reasonCode ?? ''),
          inArray(deletionRequests.reasonCode, [...MANUALLY_CONFIRMABLE_REASONS])))
        .returning();
      if (updated) {
        await enqueueDeletionDeliveries(tx, updated, by);
        await record(tx, {
          actor: by, action: 'deletion_request.confirm_destroyed', target: `deletion_request:${row.id}`,
          changes: {
            state: { from: 'failed', to: 'succeeded' }, reasonCode: { from: row.reasonCode, to: 'manually_destroyed' }, confirmedBy: { from: null, to: by },
            guest: `${row.kind} ${row.vmid} ${row.name} on ${row.node}`, tokenIssuers: [...confirmation.tokenIssuers],
          },
        });
      }
      return updated;
    });
  }

  async appendHistory(id: number, entry: DeletionHistoryEntry): Promise<void> {
    await this.transition(id, {}, entry);
  }

  /**
   * Records a refused attempt unless the same actor already has one in the last minute (one conditional UPDATE, so
   * concurrent refusals in several processes record one): a user hammering the button cannot grow the history.
   * True when it was recorded.
   */
  async appendRefusal(id: number, entry: DeletionHistoryEntry & { outcome: 'refused' }): Promise<boolean> {
    const [row] = await this.db.update(deletionRequests)
      .set({ history: sql`${deletionRequests.history} || ${JSON.stringify([entry])}::jsonb` })
      .where(and(eq(deletionRequests.id, id), sql`not exists (
        select 1 from jsonb_array_elements(${deletionRequests.history}) h
        where h->>'outcome' = 'refused' and h->>'actor' = ${entry.actor}
          and (h->>'at')::timestamptz > ${entry.at}::timestamptz - ${REFUSAL_RECORD_INTERVAL_MS} * interval '1 millisecond')`))
      .returning({ id: deletionRequests.id });
    return Boolean(row);
  }

  async pendingByApplyJob(applyJobId: string): Promise<DeletionRow[]> {
    return this.db.select().from(deletionRequests)
      .where(and(eq(deletionRequests.applyJobId, applyJobId), eq(deletionRequests.state, 'pending')));
  }
}
