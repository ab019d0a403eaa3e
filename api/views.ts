import type { JobRow, VmResult } from '../db/apply-jobs';
import type { DeletionRow } from '../db/deletion-requests';

export interface TemporalLinks { uiUrl: string; namespace: string }

export function temporalUrl(links: TemporalLinks, workflowId: string): string {
  return `${links.uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(links.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function jobView(job: JobRow, results: VmResult[] | null, links: TemporalLinks) {
  return {
    id: job.id,
    runUuid: job.runUuid,
    workflowId: job.workflowId,
    temporalUrl: temporalUrl(links, job.workflowId),
    branch: { id: job.branchId, schemaId: job.branchSchemaId, name: job.branchName },
    user: job.username,
    state: job.state,
    source: job.source,
    error: job.error,
    mergedAt: job.mergedAt.toISOString(),
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    /** What a webhook body claimed about who merged when it disagreed with NetBox (ignored; `user` is NetBox's answer). */
    claimedMergedBy: job.claimedMergedBy,
    reapplied: job.reappliedBy ? { by: job.reappliedBy, at: job.reappliedAt?.toISOString() ?? null, confirmation: job.reapplyConfirmation } : null,
    ...(results ? { perVmResults: Object.fromEntries(results.map(({ key, ...r }) => [key, r])) } : {}),
    drift: job.drift,
  };
}

export type JobView = ReturnType<typeof jobView>;

export function deletionView(row: DeletionRow, links: TemporalLinks) {
  return {
    id: row.id,
    state: row.state,
    vmid: row.vmid,
    node: row.node,
    kind: row.kind,
    name: row.name,
    netboxId: row.netboxId,
    branch: { id: row.branchId, schemaId: row.branchSchemaId, name: row.branchName },
    applyJobId: row.applyJobId,
    requestedBy: row.requestedBy,
    requestedAt: row.requestedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    authorizer: row.authorizer,
    /** Who issued the token the approval was made with (and who issued theirs): none of them is the requester. */
    authorizerTokenIssuers: row.authorizerTokenIssuers,
    decidedAt: row.decidedAt?.toISOString() ?? null,
    /** Who confirmed the guest was destroyed by hand (reasonCode manually_destroyed); null otherwise. */
    confirmedBy: row.confirmedBy,
    executedAt: row.executedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
    reason: row.reason,
    reasonCode: row.reasonCode,
    proxmoxUpid: row.proxmoxUpid,
    taggedPendingDeletion: row.taggedPendingDeletion,
    metadataSnapshot: row.metadataSnapshot,
    workflowId: row.workflowId,
    temporalUrl: temporalUrl(links, row.workflowId),
    history: row.history,
  };
}
