import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt, lte, sql } from 'drizzle-orm';
import type { Db } from './client';
import { record } from './audit-log';
import { enqueueDeliveries, type DbOrTx } from './deliveries';
import { deletionRequests, deliveries, notificationDestinations, settings, users } from './schema';
import { diffForAudit } from '../domain/audit';
import type { DeliverySubject } from '../domain/deliveries';
import {
  approversOf, deletionReminder, destinationSubject, notificationDeliveries, notificationUrlRefusal, reminderDue, shownUrl, testNotification,
  type DestinationKind, type NotificationDestinationInput, type NotificationDestinationPatch,
  type NotificationEvent, type Subscriber,
} from '../domain/notifications';
import type { SecretBox } from '../domain/secret-box';
import { systemActor, type Actor } from '../domain/tokens';

const URL_CONTEXT = 'notification_destination.url';
const SECRET_CONTEXT = 'notification_destination.secret';

/**
 * Adds the deliveries of `events` to the outbox, one per destination subscribed to each event's type as the
 * destinations stand now. Call it inside the transaction that records the state the events describe.
 */
export async function enqueueNotifications(tx: DbOrTx, subject: DeliverySubject, events: readonly NotificationEvent[]): Promise<void> {
  if (events.length === 0) return;
  const destinations: Subscriber[] = await tx.select({
    id: notificationDestinations.id, kind: notificationDestinations.kind, events: notificationDestinations.events, enabled: notificationDestinations.enabled,
  }).from(notificationDestinations).where(eq(notificationDestinations.enabled, true));
  await enqueueDeliveries(tx, subject, notificationDeliveries(events, destinations));
}

/** Who may approve deletion requests of `requestedBy` now: holders of authorize_deletion_request (README "Deletion requests"). */
export async function approversFor(tx: Pick<Db, 'select'>, requestedBy: string): Promise<string[]> {
  const holders = await tx.select({ username: users.username }).from(users)
    .where(sql`${users.permissions} && array['authorize_deletion_request', 'netbox_proxbox.authorize_deletion_request']::text[]`);
  const [config] = await tx.select({ self: settings.selfApproveAllowed }).from(settings).where(eq(settings.id, 1));
  return approversOf(holders.map((h) => h.username), requestedBy, config?.self ?? false);
}

/**
 * Enqueues the reminder of every pending deletion request inside its lead time (settings.deletionReminderLeadHours):
 * run by the reconciler's sweep. The dedupe key makes it once per request and destination, whichever process runs it.
 * Returns how many requests were due.
 */
export async function enqueueDeletionReminders(db: Db, now = new Date()): Promise<number> {
  const [config] = await db.select({ lead: settings.deletionReminderLeadHours }).from(settings).where(eq(settings.id, 1));
  const leadHours = config?.lead ?? 24;
  const rows = await db.select().from(deletionRequests).where(and(
    eq(deletionRequests.state, 'pending'), gt(deletionRequests.expiresAt, now),
    lte(deletionRequests.expiresAt, new Date(now.getTime() + leadHours * 3600_000)),
  )).orderBy(asc(deletionRequests.id)).limit(500);
  const due = rows.filter((r) => reminderDue(r, leadHours, now));
  for (const row of due) {
    await db.transaction(async (tx) => {
      await enqueueNotifications(tx, { type: 'deletion_request', id: String(row.id) }, [deletionReminder(row, await approversFor(tx, row.requestedBy), now)]);
    });
  }
  return due.length;
}

type DestinationRow = typeof notificationDestinations.$inferSelect;

/** A destination as the API shows it: the URL shortened, the secret only as set or not. */
export interface DestinationView {
  id: number; name: string; kind: DestinationKind; url: string; secretSet: boolean; events: string[]; enabled: boolean;
  createdBy: string | null; createdAt: string; updatedAt: string;
}

const viewOf = (r: DestinationRow): DestinationView => ({
  id: r.id, name: r.name, kind: r.kind, url: r.urlShown, secretSet: r.secretSealed !== null, events: r.events, enabled: r.enabled,
  createdBy: r.createdBy, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString(),
});

/** What the audit log keeps of a destination (the secret field is masked by db/audit-log). */
const auditedOf = (r: DestinationRow) => ({ name: r.name, kind: r.kind, url: r.urlShown, secret: r.secretSealed, events: r.events, enabled: r.enabled });

/** What sending needs: the opened URL and secret. Never leaves the worker. */
export interface DestinationForSending { id: number; kind: DestinationKind; url: string; secret: string | null; enabled: boolean }

export type DestinationRefusal = { code: 'name_taken' | 'url_refused' | 'invalid'; detail: string };

export class NotificationDestinationStore {
  constructor(private readonly db: Db, private readonly opts: { secrets: SecretBox; allowHttp: boolean }) {}

  async list(): Promise<DestinationView[]> {
    return (await this.db.select().from(notificationDestinations).orderBy(asc(notificationDestinations.id))).map(viewOf);
  }

  async get(id: number): Promise<DestinationView | undefined> {
    const [row] = await this.db.select().from(notificationDestinations).where(eq(notificationDestinations.id, id));
    return row ? viewOf(row) : undefined;
  }

  async forSending(id: number): Promise<DestinationForSending | undefined> {
    const [row] = await this.db.select().from(notificationDestinations).where(eq(notificationDestinations.id, id));
    if (!row) return undefined;
    return {
      id: row.id, kind: row.kind, enabled: row.enabled, url: this.opts.secrets.open(row.urlSealed, URL_CONTEXT),
      secret: row.secretSealed === null ? null : this.opts.secrets.open(row.secretSealed, SECRET_CONTEXT),
    };
  }

  /** The URL rule in force (NOTIFICATIONS_ALLOW_HTTP), for the sender to check again before each attempt. */
  urlRefusal(url: string): string | null {
    return notificationUrlRefusal(url, { allowHttp: this.opts.allowHttp });
  }

  /** Seals again what was sealed with SECRETS_ENCRYPTION_KEY_PREVIOUS (at start, as the backend key); returns how many. */
  async sealStoredSecrets(): Promise<number> {
    const box = this.opts.secrets;
    return this.db.transaction(async (tx) => {
      const rows = await tx.select().from(notificationDestinations).for('update');
      const stale = rows.filter((r) => box.needsReseal(r.urlSealed) || (r.secretSealed !== null && box.needsReseal(r.secretSealed)));
      for (const r of stale) {
        await tx.update(notificationDestinations).set({
          urlSealed: box.seal(box.open(r.urlSealed, URL_CONTEXT), URL_CONTEXT),
          secretSealed: r.secretSealed === null ? null : box.seal(box.open(r.secretSealed, SECRET_CONTEXT), SECRET_CONTEXT),
        }).where(eq(notificationDestinations.id, r.id));
        await record(tx, { actor: systemActor('start').name, action: 'notification_destination.reencrypt', target: `notification_destination:${r.id}` });
      }
      return stale.length;
    });
  }

  async create(input: NotificationDestinationInput, actor: Actor): Promise<DestinationView | DestinationRefusal> {
    const refused = this.urlRefusal(input.url);
    if (refused) return { code: 'url_refused', detail: refused };
    return this.db.transaction(async (tx) => {
      const [row] = await tx.insert(notificationDestinations).values({
        name: input.name, kind: input.kind, urlSealed: this.opts.secrets.seal(input.url, URL_CONTEXT), urlShown: shownUrl(input.kind, input.url),
        secretSealed: input.secret ? this.opts.secrets.seal(input.secret, SECRET_CONTEXT) : null, events: input.events, enabled: input.enabled,
        createdBy: actor.name,
      }).onConflictDoNothing({ target: notificationDestinations.name }).returning();
      if (!row) return nameTaken(input.name);
      await record(tx, { actor: actor.name, action: 'notification_destination.create', target: `notification_destination:${row.id}`, changes: diffForAudit(null, auditedOf(row)) });
      return viewOf(row);
    });
  }

  async update(id: number, patch: NotificationDestinationPatch, actor: Actor): Promise<DestinationView | DestinationRefusal | undefined> {
    return this.db.transaction(async (tx) => {
      const [before] = await tx.select().from(notificationDestinations).where(eq(notificationDestinations.id, id)).for('update');
      if (!before) return undefined;
      if (patch.url !== undefined) {
        const refused = this.urlRefusal(patch.url);
        if (refused) return { code: 'url_refused', detail: refused } satisfies DestinationRefusal;
      }
      if (patch.secret !== undefined && before.kind === 'slack') {
        return { code: 'invalid', detail: 'a Slack destination has no secret: its URL is the secret' } satisfies DestinationRefusal;
      }
      if (patch.name !== undefined && patch.name !== before.name) {
        const [clash] = await tx.select({ id: notificationDestinations.id }).from(notificationDestinations).where(eq(notificationDestinations.name, patch.name));
        if (clash) return nameTaken(patch.name);
      }
      const [row] = await tx.update(notificationDestinations).set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.url !== undefined ? { urlSealed: this.opts.secrets.seal(patch.url, URL_CONTEXT), urlShown: shownUrl(before.kind, patch.url) } : {}),
        ...(patch.secret !== undefined ? { secretSealed: this.opts.secrets.seal(patch.secret, SECRET_CONTEXT) } : {}),
        ...(patch.events !== undefined ? { events: patch.events } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        updatedAt: new Date(),
      }).where(eq(notificationDestinations.id, id)).returning();
      const changes = diffForAudit(auditedOf(before), auditedOf(row!));
      // A new URL (a Slack one is shown by host only) or secret is a change even when what is shown stays the same.
      if (patch.url !== undefined && !changes.url) changes.url = { from: before.urlShown, to: `${row!.urlShown} (changed)` };
      if (Object.keys(changes).length > 0) {
        await record(tx, { actor: actor.name, action: 'notification_destination.update', target: `notification_destination:${id}`, changes });
      }
      return viewOf(row!);
    });
  }

  /** Removes a destination; what it had pending is skipped (nothing more is sent there). False when it did not exist. */
  async delete(id: number, actor: Actor): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.update(deliveries).set({ status: 'skipped', receipt: 'the destination was removed', leasedUntil: null, updatedAt: sql`now()` })
        .where(and(eq(deliveries.destinationId, id), eq(deliveries.status, 'pending')));
      const [row] = await tx.delete(notificationDestinations).where(eq(notificationDestinations.id, id)).returning();
      if (!row) return false;
      await record(tx, { actor: actor.name, action: 'notification_destination.delete', target: `notification_destination:${id}`, changes: diffForAudit(auditedOf(row), null) });
      return true;
    });
  }

  /** Enqueues a test event to this destination alone (delivered, retried and recorded like any other). */
  async sendTest(id: number, actor: Actor): Promise<{ eventId: string } | undefined> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(notificationDestinations).where(eq(notificationDestinations.id, id));
      if (!row) return undefined;
      const event = testNotification(id, randomUUID(), new Date());
      await enqueueDeliveries(tx, destinationSubject(id), [{ channel: row.kind, destinationId: id, dedupeKey: `${event.id}:destination:${id}`, event }]);
      await record(tx, { actor: actor.name, action: 'notification_destination.test', target: `notification_destination:${id}` });
      return { eventId: event.id };
    });
  }
}

function nameTaken(name: string): DestinationRefusal {
  return { code: 'name_taken', detail: `A notification destination named '${name}' exists already.` };
}
