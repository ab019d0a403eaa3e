/**
 * How one apply is cut into runs. The work list lives in PostgreSQL (apply_work_items); a run takes it a page at a
 * time by position and hands over to a new run of the same workflow (continue-as-new) before its history gets long,
 * so neither a payload nor a history grows with the size of the branch. Pure, so the workflow can decide under replay.
 */

/** Temporal warns at 10,240 events and 10 MiB of history and terminates a run at 51,200 events or 50 MiB. */
export interface RunBudget {
  /** Items one run dispatches at most before it continues as new. */
  itemsPerRun: number;
  /** Items one page read from PostgreSQL holds at most. */
  pageSize: number;
  /** A run stops dispatching once its history has this many events (each item adds 3 to 6, a page 3). */
  maxEvents: number;
  /** …or this many bytes. */
  maxHistoryBytes: number;
}

export const DEFAULT_RUN_BUDGET: RunBudget = {
  itemsPerRun: 1500,
  pageSize: 250,
  // Leaves room for the writes still in flight when the run stops dispatching (up to 6 events each) and the closing steps.
  maxEvents: 7000,
  maxHistoryBytes: 6 * 2 ** 20,
};

/** Where a run stands, as the workflow sees it (workflowInfo and its own count). */
export interface RunProgress {
  itemsDispatched: number;
  historyLength: number;
  historySizeBytes: number;
  /** Temporal's own hint (workflowInfo().continueAsNewSuggested). */
  continueAsNewSuggested: boolean;
}

/** Whether the run must stop taking items and hand the rest of the work list to a new run. */
export function shouldContinueAsNew(p: RunProgress, budget: RunBudget): boolean {
  return p.continueAsNewSuggested || p.itemsDispatched >= budget.itemsPerRun || p.historyLength >= budget.maxEvents
    || p.historySizeBytes >= budget.maxHistoryBytes;
}

/** How many items the next page may hold: never more than the run may still dispatch (0: read no more). */
export function nextPageLimit(itemsDispatched: number, buffered: number, budget: RunBudget): number {
  return Math.max(0, Math.min(budget.pageSize, budget.itemsPerRun - itemsDispatched - buffered));
}

/** A budget whose items per run come from configuration (APPLY_ITEMS_PER_RUN), the page no larger than a run. */
export function runBudgetFor(itemsPerRun: number | undefined): RunBudget {
  if (itemsPerRun === undefined) return DEFAULT_RUN_BUDGET;
  if (!Number.isInteger(itemsPerRun) || itemsPerRun < 1) throw new Error(`items per run must be a positive integer, got ${itemsPerRun}`);
  return { ...DEFAULT_RUN_BUDGET, itemsPerRun, pageSize: Math.min(DEFAULT_RUN_BUDGET.pageSize, itemsPerRun) };
}
