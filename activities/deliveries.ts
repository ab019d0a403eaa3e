import { Context } from '@temporalio/activity';
import { OBJECT_TYPE } from '../contracts/netbox';
import type { NetboxClient } from '../clients/netbox';
import { UpstreamError } from '../clients/errors';
import { NotificationSendError, sendNotification } from '../clients/notification-sender';
import type { DeliveryRow, DeliveryStore } from '../db/deliveries';
import type { DestinationForSending } from '../db/notifications';
import { deliveryRetryDelayMs, isNotificationChannel, type DeliverySubject } from '../domain/deliveries';
import {
  STAMP_FIELDS, WRITEBACK_GIVE_UP_MS, WritebackEvent, carriesDeliveryMarker, isPermanentNetboxFailure, journalEntryOf, stampOf,
  withDeliveryMarker, writebackFailureHint, type WritebackLinks,
} from '../domain/netbox-writeback';
import {
  EVENT_ID_HEADER, EVENT_TYPE_HEADER, NOTIFICATION_GIVE_UP_MS, NotificationEvent, SIGNATURE_HEADER, httpFailureHint, httpOutcome,
  signatureHeader, slackBody, webhookBody,
} from '../domain/notifications';

/** The destinations as the sender needs them (db/notifications.ts NotificationDestinationStore). */
export interface DestinationSource {
  forSending(id: number): Promise<DestinationForSending | undefined>;
  urlRefusal(url: string): string | null;
}

export interface DeliveryDeps {
  deliveries: DeliveryStore;
  netbox: NetboxClient;
  destinations: DestinationSource;
  links: WritebackLinks;
  /** Bound of one notification POST (default clients/notification-sender NOTIFICATION_TIMEOUT_MS). */
  notificationTimeoutMs?: number;
}

/** What one round delivered, and when the next one is due (null: nothing is left pending). */
export interface DeliveryRound { delivered: number; failed: number; skipped: number; retrying: number; nextInMs: number | null }
/** The name the NetboxWritebackWorkflow of earlier versions knows. */
export type WritebackRound = DeliveryRound;

/** Longer than one delivery takes (three NetBox calls at most, each bounded by NETBOX_TIMEOUT_MS; one POST elsewhere). */
const LEASE_MS = 2 * 60_000;

type Outcome = { status: 'delivered' | 'skipped'; receipt: string };

/** A failed attempt: `permanent` ones fail the row, the others are tried again later. */
class AttemptFailed extends Error {
  constructor(message: string, readonly permanent: boolean) { super(message); }
}

/**
 * Delivers the outbox rows of one subject: to NetBox (netbox.md §7.6) and to the notification destinations. Never
 * throws for a receiver's sake: each row records its attempts and last error; a refusal fails the row for good,
 * anything else is tried again later (backoff per row) until its give-up time. A receiver that is down makes only its
 * own rows wait; the round goes on with the others.
 */
export function createDeliveryActivities(deps: DeliveryDeps) {
  async function deliverOutbox(subject: DeliverySubject): Promise<DeliveryRound> {
    const round: DeliveryRound = { delivered: 0, failed: 0, skipped: 0, retrying: 0, nextInMs: null };
    let stampFields: Promise<Set<string>> | null = null;
    const existingStampFields = () => {
      // Asked once per round; an operator who adds the fields sees them used from the next round on.
      stampFields ??= deps.netbox.customFields({ name: [...STAMP_FIELDS] })
        .then((cfs) => new Set(cfs.filter((cf) => !cf.object_types || cf.object_types.includes(OBJECT_TYPE.virtualMachine)).map((cf) => cf.name)));
      return stampFields;
    };
    for (;;) {
      const row = await deps.deliveries.claimNext(subject, LEASE_MS);
      if (!row) break;
      Context.current().heartbeat(row.id);
      try {
        const outcome = isNotificationChannel(row.channel) ? await notify(row) : await writeToNetbox(row, existingStampFields);
        await deps.deliveries.settle(row.id, outcome);
        round[outcome.status] += 1;
      } catch (err) {
        const failure = classify(row, err);
        const error = `attempt ${row.attempts}: ${failure.message}`;
        const giveUpMs = isNotificationChannel(row.channel) ? NOTIFICATION_GIVE_UP_MS : WRITEBACK_GIVE_UP_MS;
        if (failure.permanent || Date.now() - row.createdAt.getTime() > giveUpMs) {
          await deps.deliveries.settle(row.id, { status: 'failed', error });
          round.failed += 1;
          continue;
        }
        // This receiver is down or failing: its due rows of this subject wait; the other receivers' rows go on.
        await deps.deliveries.retryLater(row, error, deliveryRetryDelayMs(row.attempts));
        round.retrying += 1;
        if (Context.current().cancellationSignal.aborted) throw err;
      }
    }
    round.nextInMs = await deps.deliveries.nextDueInMs(subject);
    return round;
  }

  return {
    deliverOutbox,
    /** The same work under the activity name of the NetboxWritebackWorkflow, for its runs started before the rename. */
    deliverNetboxWritebacks: deliverOutbox,
  };

  function classify(row: DeliveryRow, err: unknown): AttemptFailed {
    if (err instanceof AttemptFailed) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof UpstreamError) {
      const hint = writebackFailureHint(row.channel, err.kind);
      return new AttemptFailed(`${message}${hint ? ` ${hint}` : ''}`, isPermanentNetboxFailure(err.kind));
    }
    return new AttemptFailed(message, false);
  }

  async function notify(row: DeliveryRow): Promise<Outcome> {
    const event = NotificationEvent.parse(row.event);
    const destination = row.destinationId === null ? undefined : await deps.destinations.forSending(row.destinationId);
    if (!destination) return { status: 'skipped', receipt: 'the destination was removed' };
    if (!destination.enabled && event.type !== 'test') return { status: 'skipped', receipt: 'the destination is disabled' };
    const refused = deps.destinations.urlRefusal(destination.url);
    if (refused) throw new AttemptFailed(`not sent: ${refused}`, true);
    const body = destination.kind === 'slack' ? slackBody(event, deps.links) : webhookBody(event, deps.links);
    const headers: Record<string, string> = destination.kind === 'slack' ? {} : {
      [EVENT_ID_HEADER]: event.id, [EVENT_TYPE_HEADER]: event.type,
      // Signed at each attempt: the timestamp says when this attempt was sent, so a receiver can refuse a replay.
      [SIGNATURE_HEADER]: signatureHeader(destination.secret ?? '', Math.floor(Date.now() / 1000), body),
    };
    try {
      const sent = await sendNotification(destination.url, body, headers, {
        signal: Context.current().cancellationSignal, ...(deps.notificationTimeoutMs ? { timeoutMs: deps.notificationTimeoutMs } : {}),
      });
      const outcome = httpOutcome(sent.status);
      if (outcome === 'delivered') return { status: 'delivered', receipt: `HTTP ${sent.status}` };
      const hint = httpFailureHint(sent.status);
      throw new AttemptFailed(`HTTP ${sent.status}${hint ? `. ${hint}` : ''}`, outcome === 'permanent');
    } catch (err) {
      if (err instanceof NotificationSendError) throw new AttemptFailed(err.message, false);
      throw err;
    }
  }

  async function writeToNetbox(row: DeliveryRow, existingStampFields: () => Promise<Set<string>>): Promise<Outcome> {
    const signal = Context.current().cancellationSignal;
    const event = WritebackEvent.parse(row.event);
    if (event.type === 'vm_stamp') {
      const customFields = stampOf(event, await existingStampFields());
      if (!customFields) return { status: 'skipped', receipt: `none of ${STAMP_FIELDS.join(', ')} exists in NetBox` };
      await deps.netbox.patchVirtualMachine(event.netboxId, { custom_fields: customFields }, signal);
      return { status: 'delivered', receipt: `virtual machine ${event.netboxId}: ${Object.keys(customFields).join(', ')}` };
    }
    const draft = journalEntryOf(event, deps.links);
    // An earlier attempt may have created the entry and lost the answer: a second entry must not follow it.
    if (row.attempts > 1) {
      const earlier = (await deps.netbox.journalEntries(draft.objectType, draft.objectId)).find((e) => carriesDeliveryMarker(e.comments, row.id));
      if (earlier) return { status: 'delivered', receipt: `journal entry ${earlier.id}` };
    }
    const created = await deps.netbox.createJournalEntry({
      assigned_object_type: draft.objectType, assigned_object_id: draft.objectId, kind: draft.kind, comments: withDeliveryMarker(draft.comments, row.id),
    }, signal);
    return { status: 'delivered', receipt: `journal entry ${created.id}` };
  }
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
