/** The seed's "Common Errors" sentences: what users read for each cause. */
export const MESSAGES = {
  branchingMissing: 'netbox-branching is not installed',
  masterFlagDisabled: 'Intent master flag is disabled',
  notOptedIn: 'Branch is not opted in',
  destroyNotConfirmed: 'DELETE diffs require apply_destroy_confirmed=True',
  noBackend: 'No FastAPIEndpoint is configured',
  writesDisabled: 'writes_disabled_for_endpoint',
  permissionDenied: 'permission denied',
} as const;

export const SELF_APPROVAL_BLOCKED = 'Self-approval blocked: a different authorized user must approve this request.';
export const VMID_MISMATCH = 'Typed VMID does not match this deletion request.';
export const ONLY_ACTIVE_JOBS_CANCEL = 'Only queued or running apply jobs can be cancelled.';
