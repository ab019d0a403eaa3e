import { Context } from '@temporalio/activity';
import { OBJECT_TYPE } from '../contracts/netbox';
import type { NetboxClient } from '../clients/netbox';
import { UpstreamError } from '../clients/errors';
import type { DeliveryRow, DeliveryStore } from '../db/deliveries';
import {
  STAMP_FIELDS, WRITEBACK_GIVE_UP_MS, WritebackEvent, carriesDeliveryMarker, isPermanentNetboxFailure, journalEntryOf, stampOf,
  withDeliveryMarker, writebackFailureHint, writebackRetryDelayMs, type DeliverySubject, type WritebackLinks,
} from '../domain/netbox-writeback';

export interface WritebackDeps {
  deliveries: DeliveryStore;
  netbox: NetboxClient;
  links: WritebackLinks;
}

/** What one round delivered, and when the next one is due (null: nothing is left pending). */
export interface WritebackRound { delivered: number; failed: number; skipped: number; retrying: number; nextInMs: number | null }

/** Longer than one delivery takes (three NetBox calls at most, each bounded by NETBOX_TIMEOUT_MS). */
const LEASE_MS = 2 * 60_000;

type Outcome = { status: 'delivered' | 'skipped'; receipt: string };

/**
 * Delivers the outbox rows of one apply job or deletion request to NetBox (netbox.md §7.6). Never throws for
 * NetBox's sake: each row records its attempts and last error; a refusal (401, 403, 400, 404) fails the row for good,
 * anything else is tried again later, until WRITEBACK_GIVE_UP_MS after the fact.
 */
export function createWritebackActivities(deps: WritebackDeps) {
  return {
    async deliverNetboxWritebacks(subject: DeliverySubject): Promise<WritebackRound> {
      const round: WritebackRound = { delivered: 0, failed: 0, skipped: 0, retrying: 0, nextInMs: null };
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
          const outcome = await deliver(row, existingStampFields);
          await deps.deliveries.settle(row.id, outcome);
          round[outcome.status] += 1;
        } catch (err) {
          const kind = err instanceof UpstreamError ? err.kind : 'error';
          const message = err instanceof Error ? err.message : String(err);
          const hint = writebackFailureHint(row.channel, kind);
          const error = `attempt ${row.attempts}: ${message}${hint ? ` ${hint}` : ''}`;
          if (isPermanentNetboxFailure(kind) || Date.now() - row.createdAt.getTime() > WRITEBACK_GIVE_UP_MS) {
            await deps.deliveries.settle(row.id, { status: 'failed', error });
            round.failed += 1;
            continue;
          }
          // NetBox is down or failing: this row and the subject's other due rows wait, and this round ends.
          await deps.deliveries.retryLater(row, error, writebackRetryDelayMs(row.attempts));
          round.retrying += 1;
          if (Context.current().cancellationSignal.aborted) throw err;
          break;
        }
      }
      round.nextInMs = await deps.deliveries.nextDueInMs(subject);
      return round;
    },
  };

  async function deliver(row: DeliveryRow, existingStampFields: () => Promise<Set<string>>): Promise<Outcome> {
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

export type WritebackActivities = ReturnType<typeof createWritebackActivities>;
