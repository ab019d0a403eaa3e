import { condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { DeliveryActivities, DeliveryRound } from '../activities/deliveries';
import type { DeliverySubject } from '../domain/deliveries';
import { deliveryWakeSignal } from './definitions';

/** Receivers' failures are recorded per row by the activity; only our own (the database) make it fail and be retried. */
const deliveryActivities = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Rounds before the history is handed to a fresh run (a receiver down for days would otherwise grow it without end). */
const ROUNDS_PER_RUN = 200;

/**
 * Rounds of `deliver` until nothing is pending (the last round) or ROUNDS_PER_RUN were used (null: continue as new).
 * Between rounds it waits for the earliest retry or a wake signal (rows just committed).
 */
export async function deliverUntilDone(subject: DeliverySubject, deliver: (s: DeliverySubject) => Promise<DeliveryRound>): Promise<DeliveryRound | null> {
  let woken = false;
  setHandler(deliveryWakeSignal, () => { woken = true; });
  for (let i = 0; i < ROUNDS_PER_RUN; i++) {
    woken = false;
    const round = await deliver(subject);
    setCurrentDetails(`**${subject.type} ${subject.id}**: last round ${round.delivered} delivered, ${round.skipped} skipped, ` +
      `${round.failed} failed, ${round.retrying} to retry` + (round.nextInMs === null ? '' : `; next round in ${Math.round(round.nextInMs / 1000)} s`));
    if (round.nextInMs === null && !woken) return round;
    if (round.nextInMs !== null && !woken) await condition(() => woken, Math.max(1000, round.nextInMs));
  }
  return null;
}

/**
 * Delivers the outbox rows of one apply job, deletion request or destination (NetBox's journal entries and stamps,
 * the notifications) apart from the workflows that caused them, so that a slow or absent receiver never delays an apply
 * or a deletion. Started (or woken) when rows are committed and by the reconciler's sweep; ends when nothing is pending.
 * Each row's retries and backoff live in the outbox (db/deliveries.ts), so they survive this workflow and its worker.
 */
export async function DeliveryWorkflow(subject: DeliverySubject): Promise<DeliveryRound> {
  return await deliverUntilDone(subject, deliveryActivities.deliverOutbox) ?? continueAsNew<typeof DeliveryWorkflow>(subject);
}

/**
 * Superseded by DeliveryWorkflow, which nothing starts any more: kept, with the same commands as before, so that runs
 * started by an earlier version (as `netbox-writeback:<type>:<id>`) finish; its activity delivers every receiver's rows.
 */
export async function NetboxWritebackWorkflow(subject: DeliverySubject): Promise<DeliveryRound> {
  return await deliverUntilDone(subject, deliveryActivities.deliverNetboxWritebacks) ?? continueAsNew<typeof NetboxWritebackWorkflow>(subject);
}
