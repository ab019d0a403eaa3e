import { Context } from '@temporalio/activity';
import type { Branch } from '../contracts/netbox';
import type { NetboxClient } from '../clients/netbox';
import { UpstreamError } from '../clients/errors';
import { lookbackStartMs, reconcileCandidates, reconcileDecision } from '../domain/merge-eligibility';
import type { ClosedOrphan, ReconcileInput, ReconcileResult } from '../workflows/types';

/** What the reconciler reads of a start: services/apply-starter's outcomes, as far as the result reports them. */
export type MergeStartOutcome =
  | { outcome: 'started' | 'existing'; job: { id: string; workflowId: string } }
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'refused'; detail: string };

/**
 * How the reconciler starts the apply of a merge it found. The reconciler owns this interface and services' ApplyStarter
 * satisfies it (runtime/ wires one in), so activities do not depend on services.
 */
export interface MergeStarter {
  startForMerge(branch: Branch, source: 'reconciler'): Promise<MergeStartOutcome>;
}

export interface ReconcilerDeps {
  netbox: NetboxClient;
  starter: MergeStarter;
  /** Closes jobs whose workflow ended without closing them (runtime/ wires services/orphaned-jobs). */
  closeOrphanedJobs: () => Promise<ClosedOrphan[]>;
  /** Starts the deliveries of subjects whose outbox rows are overdue (runtime/ wires services/delivery-starter). */
  startOverdueDeliveries?: () => Promise<number>;
  /** Enqueues the reminders of pending deletion requests inside their lead time (runtime/ wires db/notifications). */
  enqueueDeletionReminders?: () => Promise<number>;
  now?: () => number;
}

/**
 * The reconciler's work (netbox.md §3): the `merged` events of the look-back window plus the sweep of merged,
 * opted-in branches, each branch re-read, and a start through the MergeStarter (the same workflow ids as the
 * webhook), so a lost delivery is applied and a delivered one is not applied twice.
 */
export function createReconcilerActivities(deps: ReconcilerDeps) {
  return {
    async reconcileMergedBranches(input: ReconcileInput): Promise<ReconcileResult> {
      // First, and apart from NetBox: a reminder must not wait for NetBox to answer.
      const remindersDue = deps.enqueueDeletionReminders ? await deps.enqueueDeletionReminders() : undefined;
      const windowStartMs = lookbackStartMs((deps.now ?? Date.now)(), input.lookbackHours);
      const since = new Date(windowStartMs).toISOString();
      // A merge also sets last_updated and an archive keeps it, so this filter keeps every merge in the window.
      const [events, swept] = await Promise.all([
        deps.netbox.branchEvents({ type: 'merged', time__gte: since }),
        deps.netbox.branches({ status: ['merged', 'archived'], cf_apply_to_proxmox: 'true', last_updated__gte: since }),
      ]);
      const known = new Map<number, Branch>(swept.map((b) => [b.id, b]));
      const result: ReconcileResult = { windowStart: since, examined: 0, started: [], existing: [], skipped: [], failed: [] };

      for (const branchId of reconcileCandidates(events, swept)) {
        Context.current().heartbeat({ branchId });
        result.examined += 1;
        let branch = known.get(branchId);
        try {
          branch ??= await deps.netbox.branch(branchId);
        } catch (err) {
          if (err instanceof UpstreamError && err.kind === 'not_found') result.skipped.push({ branchId, reason: 'Branch no longer exists in NetBox' });
          else result.failed.push({ branchId, error: errorMessage(err) });
          continue;
        }
        const decision = reconcileDecision(branch, windowStartMs);
        if (!decision.start) {
          result.skipped.push({ branchId, reason: decision.reason });
          continue;
        }
        try {
          const outcome = await deps.starter.startForMerge(branch, 'reconciler');
          if (outcome.outcome === 'ignored') result.skipped.push({ branchId, reason: outcome.reason });
          else if (outcome.outcome === 'refused') result.skipped.push({ branchId, reason: outcome.detail });
          else if (outcome.outcome === 'started') {
            result.started.push({ branchId, branchName: branch.name, workflowId: outcome.job.workflowId, jobId: outcome.job.id });
          } else result.existing.push({ branchId, workflowId: outcome.job.workflowId });
        } catch (err) {
          result.failed.push({ branchId, error: errorMessage(err) });
        }
      }
      result.closedOrphans = await deps.closeOrphanedJobs();
      if (remindersDue !== undefined) result.deletionRemindersDue = remindersDue;
      if (deps.startOverdueDeliveries) result.overdueDeliveriesStarted = await deps.startOverdueDeliveries();
      return result;
    },
  };
}

export type ReconcilerActivities = ReturnType<typeof createReconcilerActivities>;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
