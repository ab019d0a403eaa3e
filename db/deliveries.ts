import { and, asc, desc, eq, inArray, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { deliveries } from './schema';
import {
  EMPTY_DELIVERY_SUMMARY, NETBOX_CHANNELS, NOTIFICATION_CHANNELS, isNotificationChannel, type DeliveryChannel, type DeliverySubject,
  type DeliverySubjectType, type DeliverySummary,
} from '../domain/deliveries';
import type { WritebackEvent } from '../domain/netbox-writeback';
import type { NotificationEvent } from '../domain/notifications';

/** One fact for one receiver; `destinationId` names the notification destination (webhook and slack channels). */
export interface NewDelivery { channel: DeliveryChannel; dedupeKey: string; event: WritebackEvent | NotificationEvent; destinationId?: number }

/** NOTIFY channel: `<subject type>:<subject id>` of rows just committed, so a worker starts their delivery at once. */
export const DELIVERIES_CHANNEL = 'deliveries';

export type DeliveryRow = typeof deliveries.$inferSelect;
/** The database, or a transaction of it: deliveries are enqueued inside the transaction of the state they describe. */
export type DbOrTx = Pick<Db, 'insert' | 'execute' | 'select'>;

/**
 * Adds the deliveries of one subject (a fact already recorded is not added again) and announces them on commit.
 * Call it inside the transaction that writes the state they describe; this is the one way into the outbox.
 */
export async function enqueueDeliveries(tx: DbOrTx, subject: DeliverySubject, items: readonly NewDelivery[]): Promise<void> {
  if (items.length === 0) return;
  const inserted = await tx.insert(deliveries).values(items.map((i) => ({
    subjectType: subject.type, subjectId: subject.id, channel: i.channel, dedupeKey: i.dedupeKey, event: i.event,
    destinationId: i.destinationId ?? null,
  }))).onConflictDoNothing({ target: deliveries.dedupeKey }).returning({ id: deliveries.id });
  if (inserted.length === 0) return;
  await tx.execute(sql`select pg_notify(${DELIVERIES_CHANNEL}, ${`${subject.type}:${subject.id}`})`);
}

const ofSubject = (s: DeliverySubject) => and(eq(deliveries.subjectType, s.type), eq(deliveries.subjectId, s.id));
const leaseFree = () => or(isNull(deliveries.leasedUntil), lt(deliveries.leasedUntil, sql`now()`));
/** The rows of the same receiver as `row` (domain/deliveries.ts receiverOf): NetBox, or one destination. */
const sameReceiver = (row: Pick<DeliveryRow, 'channel' | 'destinationId'>): SQL => (isNotificationChannel(row.channel)
  ? and(inArray(deliveries.channel, [...NOTIFICATION_CHANNELS]),
    row.destinationId === null ? isNull(deliveries.destinationId) : eq(deliveries.destinationId, row.destinationId))!
  : inArray(deliveries.channel, [...NETBOX_CHANNELS]));
/** Which of a subject's rows a summary counts. */
export type DeliveryGroup = 'netbox' | 'notifications';
const ofGroup = (group: DeliveryGroup) => inArray(deliveries.channel, group === 'netbox' ? [...NETBOX_CHANNELS] : [...NOTIFICATION_CHANNELS]);

export class DeliveryStore {
  constructor(private readonly db: Db) {}

  /**
   * Takes the subject's oldest due row for one attempt: counts the attempt before anything is sent and leases the row,
   * so two workers never send it at once and a later attempt knows an earlier one may have reached the receiver.
   */
  async claimNext(subject: DeliverySubject, leaseMs: number): Promise<DeliveryRow | undefined> {
    const [row] = await this.db.update(deliveries)
      .set({ attempts: sql`${deliveries.attempts} + 1`, leasedUntil: sql`now() + ${leaseMs} * interval '1 millisecond'`, updatedAt: sql`now()` })
      .where(eq(deliveries.id, sql`(select id from ${deliveries} where ${and(ofSubject(subject), eq(deliveries.status, 'pending'),
        lte(deliveries.nextAttemptAt, sql`now()`), leaseFree())} order by id limit 1 for update skip locked)`))
      .returning();
    return row;
  }

  async settle(id: number, outcome: { status: 'delivered' | 'failed' | 'skipped'; receipt?: string | null; error?: string | null }): Promise<void> {
    await this.db.update(deliveries).set({
      status: outcome.status, receipt: outcome.receipt ?? null, leasedUntil: null, updatedAt: sql`now()`,
      ...(outcome.status === 'delivered' ? { deliveredAt: sql`now()` } : {}),
      ...(outcome.error !== undefined ? { lastError: outcome.error } : {}),
    }).where(eq(deliveries.id, id));
  }

  /**
   * A failed attempt that may succeed later: the row waits `delayMs`, and so do the subject's other due rows for the same
   * receiver (it is down for all of them). Rows for other receivers are not held back.
   */
  async retryLater(row: DeliveryRow, error: string, delayMs: number): Promise<void> {
    const at = sql`now() + ${delayMs} * interval '1 millisecond'`;
    await this.db.update(deliveries).set({ lastError: error, nextAttemptAt: at, leasedUntil: null, updatedAt: sql`now()` })
      .where(eq(deliveries.id, row.id));
    // They wait too, without an attempt counted.
    await this.db.update(deliveries).set({ nextAttemptAt: at })
      .where(and(ofSubject({ type: row.subjectType, id: row.subjectId }), sameReceiver(row), eq(deliveries.status, 'pending'),
        lte(deliveries.nextAttemptAt, sql`now()`), leaseFree()));
  }

  /** Milliseconds until the subject's next pending row is due and free (0: now), or null when nothing is pending. */
  async nextDueInMs(subject: DeliverySubject): Promise<number | null> {
    const [row] = await this.db.select({ wait: sql<string | null>`extract(epoch from (min(greatest(${deliveries.nextAttemptAt}, coalesce(${deliveries.leasedUntil}, ${deliveries.nextAttemptAt}))) - now())) * 1000` })
      .from(deliveries).where(and(ofSubject(subject), eq(deliveries.status, 'pending')));
    return row?.wait === null || row?.wait === undefined ? null : Math.max(0, Math.ceil(Number(row.wait)));
  }

  /** Subjects with a pending row overdue by more than `graceMs` (their delivery was never started, or its worker died). */
  async overdueSubjects(graceMs: number, limit = 500): Promise<DeliverySubject[]> {
    const rows = await this.db.selectDistinct({ type: deliveries.subjectType, id: deliveries.subjectId }).from(deliveries)
      .where(and(eq(deliveries.status, 'pending'), lt(deliveries.nextAttemptAt, sql`now() - ${graceMs} * interval '1 millisecond'`), leaseFree()))
      .limit(limit);
    return rows.map((r) => ({ type: r.type, id: r.id }));
  }

  async forSubject(subject: DeliverySubject): Promise<DeliveryRow[]> {
    return this.db.select().from(deliveries).where(ofSubject(subject)).orderBy(asc(deliveries.id));
  }

  /** Counts per status and the latest error of one group of rows, per subject id (every id asked for gets an answer). */
  async summaries(type: DeliverySubjectType, ids: readonly string[], group: DeliveryGroup = 'netbox'): Promise<Map<string, DeliverySummary>> {
    const out = new Map<string, DeliverySummary>(ids.map((id) => [id, { ...EMPTY_DELIVERY_SUMMARY }]));
    if (ids.length === 0) return out;
    const rows = await this.db.select({
      id: deliveries.subjectId, status: deliveries.status, n: sql<number>`count(*)::int`,
      lastError: sql<string | null>`(array_agg(${deliveries.lastError} order by ${deliveries.updatedAt} desc) filter (where ${deliveries.lastError} is not null))[1]`,
    }).from(deliveries).where(and(eq(deliveries.subjectType, type), inArray(deliveries.subjectId, [...ids]), ofGroup(group)))
      .groupBy(deliveries.subjectId, deliveries.status);
    for (const r of rows) {
      const s = out.get(r.id)!;
      s[r.status] = Number(r.n);
      // The latest error of a row not delivered in the end; a delivered row's earlier error is history.
      if (r.lastError && (r.status === 'failed' || (r.status === 'pending' && !s.lastError))) s.lastError = r.lastError;
    }
    return out;
  }

  async summary(type: DeliverySubjectType, id: string, group: DeliveryGroup = 'netbox'): Promise<DeliverySummary> {
    return (await this.summaries(type, [id], group)).get(id)!;
  }

  /** The latest notification deliveries to any destination, newest first. */
  async recentNotifications(limit: number): Promise<DeliveryRow[]> {
    return this.db.select().from(deliveries).where(ofGroup('notifications')).orderBy(desc(deliveries.id)).limit(limit);
  }

  /** A destination's deliveries, newest first (ids below `beforeId` for the next page). */
  async forDestination(destinationId: number, opts: { limit: number; beforeId?: number }): Promise<DeliveryRow[]> {
    return this.db.select().from(deliveries)
      .where(and(eq(deliveries.destinationId, destinationId), opts.beforeId !== undefined ? lt(deliveries.id, opts.beforeId) : undefined))
      .orderBy(desc(deliveries.id)).limit(opts.limit);
  }
}
