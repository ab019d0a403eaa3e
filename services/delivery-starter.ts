import type { Client } from '@temporalio/client';
import type { Database } from '../db/client';
import { DELIVERIES_CHANNEL, type DeliveryStore } from '../db/deliveries';
import { DELIVERY_SUBJECT_TYPES, type DeliverySubject, type DeliverySubjectType } from '../domain/deliveries';
import { DELIVERY_WORKFLOW, deliveryWakeSignal, deliveryWorkflowId } from '../workflows/definitions';

/** A pending row due longer than this has no delivery running (its worker died, or nobody heard the NOTIFY). */
const OVERDUE_GRACE_MS = 60_000;

const SUMMARY_OF: Record<DeliverySubjectType, string> = {
  apply_job: 'apply job', deletion_request: 'deletion request', notification_destination: 'notification destination',
};

/**
 * Starts, or wakes, the DeliveryWorkflow of a subject whose outbox rows were committed: on the rows' NOTIFY (every
 * worker listens; a second start is a second wake-up, harmless) and, as the safety net, from the reconciler's sweep of
 * overdue rows.
 */
export class DeliveryStarter {
  constructor(private readonly deps: { temporal: Client; taskQueue: string; deliveries: DeliveryStore; log?: (message: string) => void }) {}

  async start(subject: DeliverySubject): Promise<void> {
    await this.deps.temporal.workflow.signalWithStart(DELIVERY_WORKFLOW, {
      workflowId: deliveryWorkflowId(this.deps.taskQueue, subject), taskQueue: this.deps.taskQueue, args: [subject],
      signal: deliveryWakeSignal, signalArgs: [],
      staticSummary: `Deliveries of ${SUMMARY_OF[subject.type]} ${subject.id}: NetBox write-back and notifications`,
    });
  }

  /** Starts the delivery of every subject whose rows are overdue; returns how many. */
  async startOverdue(): Promise<number> {
    const subjects = await this.deps.deliveries.overdueSubjects(OVERDUE_GRACE_MS);
    for (const s of subjects) await this.start(s);
    return subjects.length;
  }

  /** Listens for committed rows; a failed start is left to the sweep. Returns the unsubscribe function. */
  listen(database: Pick<Database, 'listen'>): Promise<() => Promise<void>> {
    return database.listen(DELIVERIES_CHANNEL, (payload) => {
      const subject = subjectOf(payload);
      if (!subject) return;
      this.start(subject).catch((err: unknown) => this.deps.log?.(`deliveries of ${payload} not started (the sweep retries): ${String(err)}`));
    });
  }
}

function subjectOf(payload: string): DeliverySubject | null {
  const at = payload.indexOf(':');
  const type = payload.slice(0, at) as DeliverySubjectType;
  return at > 0 && DELIVERY_SUBJECT_TYPES.includes(type) ? { type, id: payload.slice(at + 1) } : null;
}
