import type { JobRow, VmResult } from '../db/apply-jobs';
import type { DeletionRow } from '../db/deletion-requests';
import type { MergeValidation } from '../domain/merge-validation';

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

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const COLOURS: Record<string, string> = { permitted: '#1b7f3b', warning: '#a66300', blocked: '#b00020', skipped: '#666' };

/** The plan summary page: read-only, everything escaped. */
export function planPage(p: MergeValidation): string {
  const rows = p.verdicts.map((v) => {
    const diff = p.diffs.find((d) => d.netboxId === v.netboxId);
    const details = v.findings.map((f) => `<li>${esc(f.severity)} · ${esc(f.check)} · ${esc(f.reason)}: ${esc(f.message)}</li>`).join('');
    return `<tr><td>${esc(v.name)}</td><td>${esc(v.op)}</td><td>${esc(v.kind)}</td><td>${esc(v.vmid)}</td><td>${esc(diff?.node)}</td>`
      + `<td>${esc(diff?.endpoint)}</td><td style="color:${COLOURS[v.verdict] ?? '#000'}"><b>${esc(v.verdict)}</b></td>`
      + `<td>${esc(v.message)}${details ? `<ul>${details}</ul>` : ''}</td></tr>`;
  }).join('');
  const verdict = p.permitted ? '<b style="color:#1b7f3b">permitted</b>' : '<b style="color:#b00020">blocked</b>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>Plan of branch ${esc(p.branch.name ?? p.branch.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}ul{margin:.2rem 0;padding-left:1.2rem;font-size:.9em}</style></head>
<body><h1>Plan of branch ${esc(p.branch.name ?? '?')} (#${esc(p.branch.id)}, ${esc(p.branch.schemaId ?? '?')}, ${esc(p.branch.status ?? '?')})</h1>
<p>Merge ${verdict}: ${esc(p.message)}</p>
<p>${esc(p.summary)}</p>
<p>Intent enabled: <b>${p.settings.enabled ? 'yes' : 'no'}</b> · apply_to_proxmox: <b>${p.settings.optedIn ? 'yes' : 'no'}</b> · apply_destroy_confirmed: <b>${p.settings.destroyConfirmed ? 'yes' : 'no'}</b>
 · RBAC: ${p.rbacChecked ? `checked for <b>${esc(p.actor)}</b>` : 'not checked (no actor)'}</p>
<table><tr><th>VM</th><th>Op</th><th>Kind</th><th>VMID</th><th>Node</th><th>Endpoint</th><th>Verdict</th><th>Why</th></tr>${rows}</table>
<p><small>Read-only: this page never changes NetBox or Proxmox. Checks in order: ${p.checks.map(esc).join(' → ')}.</small></p></body></html>`;
}
