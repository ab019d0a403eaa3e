/**
 * Per-VM result statuses of an apply job. `unknown`: the write reached proxbox-api but what Proxmox holds could not be
 * established in time, so an operator must look.
 */
export const RESULT_STATUSES = [
  'succeeded', 'accepted', 'skipped', 'deletion_requested', 'failed', 'blocked', 'not_implemented', 'cancelled', 'unknown',
] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** An apply job's states: queued until its run starts, running, then one final state. */
export const ACTIVE_JOB_STATES = ['queued', 'running'] as const;
export const FINAL_JOB_STATES = ['succeeded', 'partial', 'failed'] as const;
export const JOB_STATES = [...ACTIVE_JOB_STATES, ...FINAL_JOB_STATES] as const;
export type JobState = (typeof JOB_STATES)[number];
export type FinalJobState = (typeof FINAL_JOB_STATES)[number];

export function isActiveJobState(state: JobState): boolean {
  return (ACTIVE_JOB_STATES as readonly string[]).includes(state);
}

/** Who started an apply job. */
export const JOB_SOURCES = ['webhook', 'api', 'reconciler'] as const;
export type JobSource = (typeof JOB_SOURCES)[number];

const SUCCESS: ReadonlySet<ResultStatus> = new Set(['succeeded', 'accepted', 'skipped', 'deletion_requested']);

export function isSuccess(status: ResultStatus): boolean {
  return SUCCESS.has(status);
}

/**
 * The documented job rule (api.md): succeeded when every diff succeeded, was a skipped no-op or created its
 * DeletionRequest; failed when none did; partial otherwise. A branch with no diffs succeeded. A cancelled
 * run is always failed, whatever finished before the cancel.
 */
export function jobStateOf(statuses: readonly ResultStatus[], cancelled = false): FinalJobState {
  const counts: Partial<Record<ResultStatus, number>> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return jobStateOfCounts(counts, cancelled);
}

/** `jobStateOf` from how many results are in each status (a large job is counted by the database, not read whole). */
export function jobStateOfCounts(counts: Readonly<Partial<Record<ResultStatus, number>>>, cancelled = false): FinalJobState {
  if (cancelled) return 'failed';
  let total = 0;
  let ok = 0;
  for (const [status, n] of Object.entries(counts) as [ResultStatus, number][]) {
    total += n;
    if (isSuccess(status)) ok += n;
  }
  if (ok === total) return 'succeeded';
  return ok === 0 ? 'failed' : 'partial';
}
