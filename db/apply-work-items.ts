import { and, asc, eq, gt, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { Db } from './client';
import { applyResults, applyWorkItems } from './schema';
import type { GuestKind } from '../domain/guest-kind';
import type { IntentOp } from '../domain/permissions';
import type { SecretBox } from '../domain/secret-box';

/** What names a work-list item's VM (readable, for the sweeps that record results); the whole item is sealed beside it. */
export interface WorkItemIdentity { key: string; vmid: number; netboxId: number; name: string; op: IntentOp; kind: GuestKind; node: string }

/** A work-list item and its place in the list (the cursor runs continue from). */
export interface Stored<T> { seq: number; item: T }

const INSERT_CHUNK = 500;
/** Statuses of a write that changed the guest, so its config is read back for drift. */
const CHANGED = ['succeeded', 'accepted'];

/**
 * The work list of each apply job (schema.ts apply_work_items), written at plan time and read in pages by position.
 * Items are sealed at rest: their payload may hold cloud-init passwords.
 */
export class ApplyWorkItemStore {
  constructor(private readonly db: Db, private readonly secrets: SecretBox) {}

  /** Empties the job's work list, before a plan writes it a page at a time (`append`); a retried plan starts here again. */
  async clear(jobId: string): Promise<void> {
    await this.db.delete(applyWorkItems).where(eq(applyWorkItems.jobId, jobId));
  }

  /** Adds items after position `afterSeq` (the last position written so far; 0 for the first page). */
  async append(jobId: string, afterSeq: number, items: readonly WorkItemIdentity[]): Promise<void> {
    for (let start = 0; start < items.length; start += INSERT_CHUNK) {
      await this.db.insert(applyWorkItems).values(items.slice(start, start + INSERT_CHUNK).map((item, i) => {
        const seq = afterSeq + start + i + 1;
        return {
          jobId, seq, key: item.key, vmid: item.vmid, netboxId: item.netboxId, name: item.name, op: item.op, kind: item.kind, node: item.node,
          sealedItem: this.secrets.seal(JSON.stringify(item), contextOf(jobId, seq)),
        };
      }));
    }
  }

  /** Up to `limit` items after position `afterSeq`, in order. */
  async page<T extends WorkItemIdentity>(jobId: string, afterSeq: number, limit: number): Promise<Stored<T>[]> {
    if (limit < 1) return [];
    const rows = await this.db.select({ seq: applyWorkItems.seq, sealedItem: applyWorkItems.sealedItem }).from(applyWorkItems)
      .where(and(eq(applyWorkItems.jobId, jobId), gt(applyWorkItems.seq, afterSeq))).orderBy(asc(applyWorkItems.seq)).limit(limit);
    return rows.map((r) => ({ seq: r.seq, item: JSON.parse(this.secrets.open(r.sealedItem, contextOf(jobId, r.seq))) as T }));
  }

  /** Up to `limit` creates and updates after `afterSeq` whose result says they changed the guest (drift read-back). */
  async changedPage<T extends WorkItemIdentity>(jobId: string, afterSeq: number, limit: number): Promise<Stored<T>[]> {
    const rows = await this.db.select({ seq: applyWorkItems.seq, sealedItem: applyWorkItems.sealedItem }).from(applyWorkItems)
      .innerJoin(applyResults, and(eq(applyResults.jobId, applyWorkItems.jobId), eq(applyResults.key, applyWorkItems.key)))
      .where(and(eq(applyWorkItems.jobId, jobId), gt(applyWorkItems.seq, afterSeq), ne(applyWorkItems.op, 'delete'), inArray(applyResults.status, CHANGED)))
      .orderBy(asc(applyWorkItems.seq)).limit(limit);
    return rows.map((r) => ({ seq: r.seq, item: JSON.parse(this.secrets.open(r.sealedItem, contextOf(jobId, r.seq))) as T }));
  }

  /** Up to `limit` items after `afterSeq` that have no result yet, named without their payload. */
  async unsettledPage(jobId: string, afterSeq: number, limit: number): Promise<(WorkItemIdentity & { seq: number })[]> {
    return this.db.select({
      seq: applyWorkItems.seq, key: applyWorkItems.key, vmid: applyWorkItems.vmid, netboxId: applyWorkItems.netboxId, name: applyWorkItems.name,
      op: sql<IntentOp>`${applyWorkItems.op}`, kind: applyWorkItems.kind, node: applyWorkItems.node,
    }).from(applyWorkItems)
      .leftJoin(applyResults, and(eq(applyResults.jobId, applyWorkItems.jobId), eq(applyResults.key, applyWorkItems.key)))
      .where(and(eq(applyWorkItems.jobId, jobId), gt(applyWorkItems.seq, afterSeq), isNull(applyResults.key)))
      .orderBy(asc(applyWorkItems.seq)).limit(limit);
  }
}

/** Authenticated with the job and position: a sealed item cannot be moved to another row and still open. */
const contextOf = (jobId: string, seq: number) => `apply_work_items:${jobId}:${seq}`;
