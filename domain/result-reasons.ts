/**
 * Every reason code we write, defined once with its meaning: the per-VM `reason` of an apply run (`perVmResults`) and
 * the `reasonCode` of a deletion request. Operators filter and alert on these strings, so they never change; the code
 * that produces them takes the types below, so a misspelt or undocumented code does not compile.
 */

/** Why a gate closed (`firstClosedGate`, `proxboxEndpointGate`): a `blocked` result, or a deletion's `reasonCode`. */
export const GATE_REASONS = {
  master_flag_disabled: 'the master flag (intentEnabled) is off',
  branch_not_opted_in: 'the NetBox branch is not opted in to intent',
  permission_denied: 'the user lacks the permission this operation needs',
  destroy_not_confirmed: 'a DELETE was not confirmed for destruction',
  no_backend: 'no FastAPIEndpoint (proxbox-api) is configured',
  no_endpoint_for_cluster: "no Proxmox endpoint serves the VM's cluster",
  endpoint_not_found: 'proxbox-api has no such Proxmox endpoint',
  writes_disabled_for_endpoint: 'the endpoint does not allow writes (ours or proxbox-api\'s: enabled && allow_writes)',
} as const;
export type GateReason = keyof typeof GATE_REASONS;

/** Local pre-flight findings of `planChanges`; a `blocked` one becomes the per-VM result's reason. */
export const PLAN_FINDING_REASONS = {
  invalid_change_data: 'the ChangeDiff does not hold usable VirtualMachine data',
  vmid_missing: 'proxmox_vm_id is not set (v1 does not invent VMIDs)',
  node_missing: 'proxmox_node is not set',
  invalid_name: 'the VM name is not a DNS name',
  kind_guessed: 'warning: nothing marks the kind, a QEMU VM is created',
  invalid_tag: 'a tag is not a valid Proxmox tag',
  template_clone_unsupported: 'proxmox_template_vmid is set; proxbox-api has no template clones',
  swap_ignored: 'warning: proxmox_swap has no proxbox-api field',
  ostemplate_missing: 'an LXC create has no proxmox_ostemplate',
  fractional_vcpus: 'vcpus is not a whole number',
  storage_missing: 'disks or a rootfs are created without proxmox_storage',
  lxc_mountpoint_policy_missing: 'extra LXC disks need a mount path policy v1 does not have',
  plaintext_password: 'warning: cloud_init_user_data holds a plaintext password',
  cloud_init_user_data_not_snippet: 'cloud_init_user_data is not a snippet reference',
  cloud_init_network_invalid: 'cloud_init_network is not a valid JSON object',
  cloud_init_on_lxc: 'warning: cloud-init fields are ignored for LXC',
  identity_change_unsupported: 'an update changes proxmox_vm_id or proxmox_node',
  disk_change_unsupported: 'warning: disk changes in updates are not sent',
  delete_target_disagrees: 'original_data and current_data disagree on the delete target',
  duplicate_vmid: 'two changes in the branch target the same VMID',
  nic_unmappable: 'a VMInterface cannot become a Proxmox NIC (no bridge, bad MTU or MAC, unknown model, VLAN mode); the message says what to set',
  nic_removal_unsupported: 'warning: an interface was deleted in NetBox; proxbox-api cannot remove a NIC, so it stays in Proxmox',
  interface_vm_unknown: 'interface changes name a VM NetBox does not have',
} as const;
export type PlanFindingReason = keyof typeof PLAN_FINDING_REASONS;

/** Reasons of per-VM results that apply produces itself (beside gate and plan-finding reasons). */
export const APPLY_REASONS = {
  vmid_in_use: 'the VMID already exists on the cluster (and is not the guest this run created)',
  node_not_found: 'Proxmox does not know the node',
  storage_not_found: 'Proxmox does not know the storage',
  template_not_found: "the container's template volume does not exist",
  proxbox_rejected: 'proxbox-api refused the write for any other reason (the message has its text)',
  proxmox_task_failed: 'the Proxmox task ended with an error',
  unknown_outcome: "the write reached proxbox-api but what Proxmox holds could not be established",
  cancel_forced: 'a forced cancel abandoned the write while it was in flight',
  cancelled: 'never sent: the run was cancelled first',
  adopted: 'a create whose outcome was unknown is found done on the cluster',
  no_op: 'the desired state equals the pre-change data',
  vanished_in_branch: 'created and deleted inside the branch: nothing reached main',
  no_delete_target: 'the delete target could not be read from the diff',
  activity_failed: 'the write failed inside proxbox-intent (a bug or an unexpected error)',
  empty_response: 'proxbox-api answered without a result for the diff',
} as const;
export type ApplyReason = keyof typeof APPLY_REASONS;

/**
 * Reasons proxbox-api itself reports (contracts/proxbox-api.md) and that we pass on unchanged; listed for the
 * operator, not produced here. proxbox-api may report others.
 */
export const PROXBOX_REPORTED_REASONS = {
  toctou_mismatch: 'the guest changed between proxbox-api\'s check and its write',
  update_requires_vm_stop: 'the update changes fields Proxmox only takes on a stopped guest',
} as const;

/** A reason code proxbox-api reported, passed on as it is. */
export type ReportedReason = string & { readonly reportedBy: 'proxbox-api' };
export function reportedReason(reason: string): ReportedReason {
  return reason as ReportedReason;
}

/**
 * A call to proxbox-api that failed for good without a reason of its own: the reason is the error's kind
 * (`UpstreamErrorKind` in clients/errors.ts; activities/apply.ts passes it here, so a new kind must be added here to compile).
 */
export const CALL_FAILURE_REASONS = {
  unreachable: 'proxbox-api could not be reached',
  timeout: 'proxbox-api did not answer in time',
  unauthorized: 'proxbox-api refused our credentials',
  forbidden: 'proxbox-api forbade the call',
  not_found: 'proxbox-api has no such resource',
  throttled: 'proxbox-api asked us to slow down',
  rejected: 'proxbox-api rejected the request as invalid',
  server_error: 'proxbox-api failed (5xx)',
  unexpected_body: 'proxbox-api answered with a body outside its contract',
  too_large: "proxbox-api's answer was larger than we accept",
} as const;
export type CallFailureReason = keyof typeof CALL_FAILURE_REASONS;

/** What a per-VM result's `reason` may be. */
export type ResultReason = ApplyReason | GateReason | PlanFindingReason | CallFailureReason | ReportedReason;

/** The `reasonCode` of a finished deletion request (beside gate reasons and the decision refusals below). */
export const DELETION_REASON_CODES = {
  rejected: 'an approver rejected the request',
  expired: 'nobody approved it within deletionRequestTtlDays',
  not_approved: 'the request has no approver',
  self_approval_blocked: 'the approver is the requester and self-approval is not allowed',
  guest_missing: 'the guest no longer exists on the cluster',
  guest_changed: 'the guest no longer matches the request (node, kind or name)',
  backend_cannot_register_deletion: 'proxbox-api offers no deletion-request records',
  backend_record_not_found: 'proxbox-api holds no such deletion record',
  backend_record_state: "proxbox-api's deletion record is neither pending nor approved",
  backend_unavailable: "proxbox-api's endpoint could not be read",
  unknown_outcome: 'the destroy was sent and its outcome could not be established',
  destroy_task_failed: 'the Proxmox destroy task ended with an error',
  execution_interrupted: 'the execution was interrupted before the destroy was sent',
  execution_error: 'an unexpected error inside proxbox-intent',
  write_slot_busy: "the guest's VMID or its node stayed busy with other writes until the execution gave up; nothing was destroyed",
  manually_destroyed: 'succeeded: after backend_cannot_register_deletion or unknown_outcome, an authorizer (not the requester) confirmed the guest was destroyed by hand, and the cluster no longer lists its VMID',
  failed: 'a failed request stored without a code',
} as const;
/** `backend_<kind>`: a proxbox-api call failed with that error kind while executing. */
export type BackendFailureCode = `backend_${string}`;
export type DeletionReasonCode = keyof typeof DELETION_REASON_CODES | GateReason | BackendFailureCode;
