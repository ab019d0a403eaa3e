import { z } from 'zod';
import { OBJECT_TYPE, type JournalKind } from '../contracts/netbox';
import { withoutSecrets } from './secret-text';
import type { DeliveryChannel } from './deliveries';

/**
 * Results written back to NetBox (docs/contracts/netbox.md §7.6): what happened, as facts stored in the outbox with
 * the state they describe, and how each fact becomes a journal entry or a custom-field stamp when it is delivered.
 * Pure: the outbox (db/deliveries.ts) stores the facts, the delivery activity renders and sends them.
 */

const VmFacts = z.object({
  key: z.string(), netboxId: z.number().int().nullable(), name: z.string().nullable(), op: z.string(), kind: z.string().nullable(),
  vmid: z.number().int().nullable(), status: z.string(), reason: z.string().nullable(), message: z.string(),
});
const JobFacts = {
  jobId: z.string(), branchId: z.number().int(), branchName: z.string(), mergedBy: z.string().nullable(),
};
export const DELETION_TRANSITIONS = ['requested', 'approved', 'rejected', 'expired', 'destroyed', 'failed'] as const;
export type DeletionTransition = (typeof DELETION_TRANSITIONS)[number];

/** The facts one delivery carries (serialised in the outbox row's `event`). */
export const WritebackEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('vm_outcome'), ...JobFacts, vm: VmFacts }),
  z.object({
    type: z.literal('job_summary'), ...JobFacts, state: z.string(), error: z.string().nullable(), counts: z.record(z.string(), z.number().int()),
  }),
  z.object({ type: z.literal('vm_stamp'), jobId: z.string(), netboxId: z.number().int(), intentState: z.enum(['applied', 'failed']) }),
  z.object({
    type: z.literal('deletion'), transition: z.enum(DELETION_TRANSITIONS), requestId: z.number().int(), branchId: z.number().int(),
    branchName: z.string(), vmid: z.number().int(), name: z.string(), kind: z.string(), node: z.string(), actor: z.string().nullable(),
    reason: z.string().nullable(), reasonCode: z.string().nullable(), expiresAt: z.string(),
  }),
]);
export type WritebackEvent = z.infer<typeof WritebackEvent>;

export interface NewWriteback { channel: DeliveryChannel; dedupeKey: string; event: WritebackEvent }

/** What an apply job's closing needs to know of the job and of each VM's result. */
export interface ClosedJob { id: string; branchId: number; branchName: string; username: string | null; state: string; error: string | null }
export type VmResultFacts = z.infer<typeof VmFacts>;

const APPLIED = new Set(['succeeded', 'accepted', 'skipped']);

/**
 * The deliveries of a closed apply job: one journal entry per VM (a deleted VM's goes on the branch), a stamp per VM
 * that still exists, and the job's summary on the branch. A delete that created its DeletionRequest is left to the
 * request, which writes its own `requested` entry.
 */
export function applyJobWritebacks(job: ClosedJob, results: readonly VmResultFacts[]): NewWriteback[] {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return [...vmWritebacks(job, results), jobSummaryWriteback(job, counts)];
}

/** The per-VM deliveries of `applyJobWritebacks`, for some of the job's results (a closing job writes them a page at a time). */
export function vmWritebacks(job: ClosedJob, results: readonly VmResultFacts[]): NewWriteback[] {
  const facts = jobFacts(job);
  const out: NewWriteback[] = [];
  for (const r of results) {
    if (r.status === 'deletion_requested') continue;
    const vm: VmResultFacts = {
      key: r.key, netboxId: r.netboxId, name: r.name, op: r.op, kind: r.kind, vmid: r.vmid, status: r.status, reason: r.reason, message: r.message,
    };
    out.push({ channel: 'netbox_journal', dedupeKey: `apply_job:${job.id}:vm:${r.key}`, event: { type: 'vm_outcome', ...facts, vm } });
    if (r.op !== 'delete' && r.netboxId !== null) {
      out.push({
        channel: 'netbox_stamp', dedupeKey: `apply_job:${job.id}:stamp:${r.key}`,
        event: { type: 'vm_stamp', jobId: job.id, netboxId: r.netboxId, intentState: APPLIED.has(r.status) ? 'applied' : 'failed' },
      });
    }
  }
  return out;
}

/** The job's summary on the branch, with how many of its VMs ended in each status. */
export function jobSummaryWriteback(job: ClosedJob, counts: Readonly<Record<string, number>>): NewWriteback {
  return { channel: 'netbox_journal', dedupeKey: `apply_job:${job.id}:summary`, event: { type: 'job_summary', ...jobFacts(job), state: job.state, error: job.error, counts: { ...counts } } };
}

const jobFacts = (job: ClosedJob) => ({ jobId: job.id, branchId: job.branchId, branchName: job.branchName, mergedBy: job.username });

/** The deletion request's states that NetBox hears about, and under which name. */
const TRANSITION_OF_STATE: Record<string, DeletionTransition> = {
  pending: 'requested', approved: 'approved', rejected: 'rejected', expired: 'expired', succeeded: 'destroyed', failed: 'failed',
};

export interface DeletionFacts {
  id: number; state: string; branchId: number; branchName: string; vmid: number; name: string; kind: string; node: string;
  requestedBy: string; authorizer: string | null; reason: string | null; reasonCode: string | null; expiresAt: Date;
}

/**
 * The one delivery a deletion request's move into `state` causes (none for `executing`). `actor` names who caused a
 * transition the row does not attribute (for example who confirmed a manual destroy).
 */
export function deletionWriteback(row: DeletionFacts, actor: string | null = null): NewWriteback | null {
  const transition = TRANSITION_OF_STATE[row.state];
  if (!transition) return null;
  actor ??= transition === 'requested' ? row.requestedBy : transition === 'approved' || transition === 'rejected' ? row.authorizer : null;
  return {
    channel: 'netbox_journal', dedupeKey: `deletion_request:${row.id}:${transition}`,
    event: {
      type: 'deletion', transition, requestId: row.id, branchId: row.branchId, branchName: row.branchName, vmid: row.vmid, name: row.name,
      kind: row.kind, node: row.node, actor, reason: row.reason, reasonCode: row.reasonCode, expiresAt: row.expiresAt.toISOString(),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering


export interface JournalEntryDraft { objectType: string; objectId: number; kind: JournalKind; comments: string }

const VM_HEADLINE: Record<string, [string, JournalKind]> = {
  succeeded: ['applied to Proxmox', 'success'],
  accepted: ['accepted by proxbox-api (its task cannot be followed)', 'success'],
  skipped: ['skipped: nothing to change', 'info'],
  blocked: ['blocked: nothing was sent to Proxmox', 'warning'],
  failed: ['failed', 'danger'],
  unknown: ['outcome unknown: check Proxmox', 'danger'],
  cancelled: ['cancelled before it was sent', 'warning'],
  not_implemented: ['not implemented', 'warning'],
};
const JOB_KIND: Record<string, JournalKind> = { succeeded: 'success', partial: 'warning', failed: 'danger' };
const DELETION_HEADLINE: Record<DeletionTransition, [string, JournalKind]> = {
  requested: ['deletion requested, waiting for approval', 'warning'],
  approved: ['deletion approved', 'info'],
  rejected: ['deletion rejected: the guest stays in Proxmox', 'warning'],
  expired: ['deletion request expired: the guest stays in Proxmox', 'warning'],
  destroyed: ['destroyed in Proxmox', 'success'],
  failed: ['deletion failed', 'danger'],
};

/** Our pages (PUBLIC_URL); without one, the API path names the object. */
export interface WritebackLinks { publicUrl: string | null }

const linkTo = (links: WritebackLinks, what: string, page: string, apiPath: string) =>
  (links.publicUrl ? `[${what}](${links.publicUrl.replace(/\/+$/, '')}${page})` : `${what} (\`${apiPath}\`)`);
const jobLink = (links: WritebackLinks, id: string) => linkTo(links, `Apply job ${id}`, `/ui/apply-jobs/${id}`, `/api/v1/apply-jobs/${id}`);
const requestLink = (links: WritebackLinks, id: number) =>
  linkTo(links, `Deletion request ${id}`, `/ui/deletion-requests/${id}`, `/api/v1/deletion-requests/${id}`);

/** Text that came from elsewhere (names, messages, reasons) shown as text, never as Markdown or HTML. */
export function markdownText(text: string): string {
  return text.replace(/([\\`*_{}[\]<>()#+!|~])/g, '\\$1').replace(/\s*\n\s*/g, ' ');
}

const shown = (text: string) => markdownText(withoutSecrets(text));

/** The journal entry a fact becomes, on the VM or (for a VM the merge deleted, and for the summary) on the branch. */
export function journalEntryOf(event: Exclude<WritebackEvent, { type: 'vm_stamp' }>, links: WritebackLinks): JournalEntryDraft {
  const onBranch = { objectType: OBJECT_TYPE.branch, objectId: event.branchId };
  if (event.type === 'vm_outcome') {
    const { vm } = event;
    const [headline, kind] = VM_HEADLINE[vm.status] ?? [vm.status, 'warning'];
    const guest = [vm.op, vm.kind, vm.vmid ?? '', vm.name ? shown(vm.name) : ''].filter((p) => p !== '').join(' ');
    const deleted = vm.op === 'delete' || vm.netboxId === null;
    const lines = [
      `**proxbox-intent: ${headline}** (${guest}${deleted ? ', deleted in NetBox by this merge' : ''})`,
      ...(vm.reason ? [`Reason: ${shown(vm.reason)}`] : []),
      ...(vm.message ? [shown(vm.message)] : []),
      `${jobLink(links, event.jobId)}, branch ${shown(event.branchName)}${event.mergedBy ? `, merged by ${shown(event.mergedBy)}` : ''}`,
    ];
    return { ...(deleted ? onBranch : { objectType: OBJECT_TYPE.virtualMachine, objectId: vm.netboxId! }), kind, comments: lines.join('\n\n') };
  }
  if (event.type === 'job_summary') {
    const counts = Object.entries(event.counts).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${n} ${s.replace(/_/g, ' ')}`);
    const lines = [
      `**proxbox-intent: apply ${event.state}** for branch ${shown(event.branchName)}${event.mergedBy ? `, merged by ${shown(event.mergedBy)}` : ''}`,
      counts.length ? `Guests: ${counts.join(', ')}.` : 'No VM or container changes to apply.',
      ...(event.error ? [`Error: ${shown(event.error)}`] : []),
      jobLink(links, event.jobId),
    ];
    return { ...onBranch, kind: JOB_KIND[event.state] ?? 'warning', comments: lines.join('\n\n') };
  }
  const [headline, kind] = DELETION_HEADLINE[event.transition];
  const by = event.actor ? ` by ${shown(event.actor)}` : '';
  const detail: Record<DeletionTransition, string> = {
    requested: `Requested${by}. A different user holding authorize_deletion_request must approve it before ${event.expiresAt}; nothing is destroyed until then.`,
    approved: `Approved${by}; the guest is destroyed next.`,
    rejected: `Rejected${by}${event.reason ? `: ${shown(event.reason)}` : ''}. Nothing was destroyed.`,
    expired: `Nobody approved it before ${event.expiresAt}. Nothing was destroyed.`,
    destroyed: event.reasonCode === 'manually_destroyed'
      ? `Destroyed by hand, confirmed in proxbox-intent${by}${event.reason ? `: ${shown(event.reason)}` : '.'}`
      : 'The guest was destroyed.',
    failed: `${event.reasonCode ? `Reason: ${shown(event.reasonCode)}. ` : ''}${event.reason ? shown(event.reason) : ''}`.trim(),
  };
  return {
    ...onBranch, kind,
    comments: [
      `**proxbox-intent: ${headline}** (${event.kind} ${event.vmid} ${shown(event.name)} on ${shown(event.node)}, deleted in NetBox by branch ${shown(event.branchName)})`,
      detail[event.transition],
      requestLink(links, event.requestId),
    ].filter(Boolean).join('\n\n'),
  };
}

export const STAMP_FIELDS = ['proxbox_intent_state', 'proxbox_last_apply_run_id'] as const;

/** The partial `custom_fields` of a stamp, limited to the stamp fields that exist in NetBox; null when none does. */
export function stampOf(event: Extract<WritebackEvent, { type: 'vm_stamp' }>, existing: ReadonlySet<string>): Record<string, string> | null {
  const values: Record<(typeof STAMP_FIELDS)[number], string> = { proxbox_intent_state: event.intentState, proxbox_last_apply_run_id: event.jobId };
  const present = STAMP_FIELDS.filter((f) => existing.has(f));
  return present.length ? Object.fromEntries(present.map((f) => [f, values[f]])) : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Delivering

/** Invisible in NetBox's rendered Markdown; lets a retry find the entry an attempt with a lost answer created. */
export function deliveryMarker(deliveryId: number): string {
  return `<!-- proxbox-intent delivery ${deliveryId} -->`;
}

export function withDeliveryMarker(comments: string, deliveryId: number): string {
  return `${comments}\n\n${deliveryMarker(deliveryId)}`;
}

export function carriesDeliveryMarker(comments: string, deliveryId: number): boolean {
  return comments.includes(deliveryMarker(deliveryId));
}

/** Transient failures are retried this long after the fact was recorded, then the delivery is `failed`. */
export const WRITEBACK_GIVE_UP_MS = 72 * 3600_000;

/** NetBox's answer decides: a refused token or a bad request will not get better by retrying. */
export function isPermanentNetboxFailure(kind: string): boolean {
  return ['unauthorized', 'forbidden', 'rejected', 'not_found'].includes(kind);
}

/** What to do about a refusal, appended to NetBox's own words. */
export function writebackFailureHint(channel: DeliveryChannel, kind: string): string {
  if (kind === 'unauthorized') return 'NETBOX_TOKEN was rejected.';
  if (kind === 'forbidden') {
    return channel === 'netbox_journal'
      ? 'The NetBox token needs the add permission on extras.journalentry (and view, to find entries after a lost answer).'
      : 'The NetBox token needs the change permission on virtualization.virtualmachine to stamp custom fields.';
  }
  if (kind === 'not_found') return 'The object no longer exists in NetBox.';
  return '';
}
