import { condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { DeliveryActivities, WritebackRound } from '../activities/deliveries';
import type { DeliverySubject } from '../domain/deliveries';
import { deliveryWakeSignal as writebackWakeSignal } from './definitions';

/** NetBox's failures are recorded per row by the activity; only our own (the database) make it fail and be retried. */
const { deliverNetboxWritebacks } = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/** Rounds before the history is handed to a fresh run (a NetBox down for days would otherwise grow it without end). */
const ROUNDS_PER_RUN = 200;

/**
 * Superseded by DeliveryWorkflow (workflows/deliveries.ts), which nothing here starts any more: kept, unchanged in
 * shape, so that runs started by an earlier version finish (their activity delivers every receiver's rows now).
 *
 * Delivers what NetBox is told about one apply job or deletion request (netbox.md §7.6), apart from the
 * ApplyWorkflow and DeletionWorkflow, so that NetBox being slow or down never delays them. Started (or woken) when
 * rows are committed and by the reconciler's sweep; ends when nothing is left pending.
 */
export async function NetboxWritebackWorkflow(subject: DeliverySubject): Promise<WritebackRound> {
  let woken = false;
  setHandler(writebackWakeSignal, () => { woken = true; });
  for (let i = 0; i < ROUNDS_PER_RUN; i++) {
    woken = false;
    const round = await deliverNetboxWritebacks(subject);
    setCurrentDetails(`**${subject.type} ${subject.id}**: last round ${round.delivered} delivered, ${round.skipped} skipped, ` +
      `${round.failed} failed, ${round.retrying} to retry` + (round.nextInMs === null ? '' : `; next round in ${Math.round(round.nextInMs / 1000)} s`));
    if (round.nextInMs === null && !woken) return round;
    if (round.nextInMs !== null && !woken) await condition(() => woken, Math.max(1000, round.nextInMs));
  }
  return continueAsNew<typeof NetboxWritebackWorkflow>(subject);
}
