export type ResultStatus =
  | 'succeeded' | 'accepted' | 'skipped' | 'deletion_requested'
  | 'failed' | 'blocked' | 'not_implemented' | 'cancelled'
  /** The write reached proxbox-api but what Proxmox holds could not be established in time: an operator must look. */
  | 'unknown';
export type FinalJobState = 'succeeded' | 'partial' | 'failed';

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
  if (cancelled) return 'failed';
  if (statuses.length === 0) return 'succeeded';
  const ok = statuses.filter(isSuccess).length;
  if (ok === statuses.length) return 'succeeded';
  return ok === 0 ? 'failed' : 'partial';
}
