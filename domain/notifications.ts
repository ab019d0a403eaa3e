import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { DeliverySubject, NotificationChannel } from './deliveries';
import { withoutSecrets } from './secret-text';
import { checkOutboundUrl } from './outbound-url';

/**
 * Notifications to the destinations operators configure (README "Notifications"): which events exist, the safe facts
 * each carries, who is subscribed, the bodies sent (a signed JSON webhook or a Slack-compatible `{text}`), and the
 * signature receivers verify. Pure: the outbox stores the events (db/notifications.ts), the delivery activity sends them.
 */

export const NOTIFICATION_EVENT_TYPES = [
  'deletion.awaiting_approval', 'deletion.expiring_soon', 'deletion.approved', 'deletion.rejected', 'deletion.expired',
  'deletion.executed', 'deletion.failed',
  'apply.finished', 'apply.drift_found', 'apply.needs_operator',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];
/** `test`: the "send test" action, to one destination, whatever it subscribes to. */
export type SentEventType = NotificationEventType | 'test';

export const DESTINATION_KINDS = ['webhook', 'slack'] as const satisfies readonly NotificationChannel[];
export type DestinationKind = (typeof DESTINATION_KINDS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Events: only safe facts (ids, names, VMIDs, states, counts); free text passes withoutSecrets first.

const DeletionData = z.object({
  requestId: z.number().int(), state: z.string(), branchId: z.number().int(), branchName: z.string(), vmid: z.number().int(),
  name: z.string(), kind: z.string(), node: z.string(), requestedBy: z.string(), actor: z.string().nullable(), reason: z.string().nullable(),
  reasonCode: z.string().nullable(), expiresAt: z.string(),
  /** Who may approve (awaiting approval and the reminder): holders of authorize_deletion_request other than the requester. */
  approvers: z.array(z.string()).optional(),
});
const DriftedGuest = z.object({ key: z.string(), vmid: z.number().int().nullable(), fields: z.array(z.string()), unverified: z.boolean() });
const AttentionItem = z.object({
  key: z.string(), vmid: z.number().int().nullable(), name: z.string().nullable(), status: z.string(), reason: z.string().nullable(),
});
const ApplyData = z.object({
  jobId: z.string(), branchId: z.number().int(), branchName: z.string(), mergedBy: z.string().nullable(), state: z.string(),
  cancelled: z.boolean(), error: z.string().nullable(), counts: z.record(z.string(), z.number().int()),
  drift: z.array(DriftedGuest).optional(),
  attention: z.array(AttentionItem).optional(),
});

/** One event as the outbox stores it (the row's `event`) and as every destination receives it. */
export const NotificationEvent = z.object({
  /** Stable across retries and destinations: receivers deduplicate on it (X-Proxbox-Intent-Event-Id). */
  id: z.string(),
  type: z.enum([...NOTIFICATION_EVENT_TYPES, 'test']),
  occurredAt: z.string(),
  subject: z.object({ type: z.string(), id: z.string() }),
  deletion: DeletionData.optional(),
  apply: ApplyData.optional(),
});
export type NotificationEvent = z.infer<typeof NotificationEvent>;
export type DeletionNotificationData = z.infer<typeof DeletionData>;
export type ApplyNotificationData = z.infer<typeof ApplyData>;

const safe = (text: string | null) => (text === null ? null : withoutSecrets(text));

const DELETION_EVENT_OF_STATE: Record<string, NotificationEventType> = {
  pending: 'deletion.awaiting_approval', approved: 'deletion.approved', rejected: 'deletion.rejected', expired: 'deletion.expired',
  succeeded: 'deletion.executed', failed: 'deletion.failed',
};

export interface DeletionNotificationFacts {
  id: number; state: string; branchId: number; branchName: string; vmid: number; name: string; kind: string; node: string;
  requestedBy: string; authorizer: string | null; reason: string | null; reasonCode: string | null; expiresAt: Date;
}

/** Who may approve a request: holders of authorize_deletion_request, the requester only when self-approval is allowed. */
export function approversOf(holders: readonly string[], requestedBy: string, selfApproveAllowed: boolean): string[] {
  return [...new Set(holders)].filter((u) => selfApproveAllowed || u !== requestedBy).sort();
}

function deletionData(row: DeletionNotificationFacts, actor: string | null, approvers?: string[]): DeletionNotificationData {
  return {
    requestId: row.id, state: row.state, branchId: row.branchId, branchName: row.branchName, vmid: row.vmid, name: row.name, kind: row.kind,
    node: row.node, requestedBy: row.requestedBy, actor, reason: safe(row.reason), reasonCode: row.reasonCode, expiresAt: row.expiresAt.toISOString(),
    ...(approvers ? { approvers } : {}),
  };
}

/** The event a deletion request's move into its state causes (none for `executing`). */
export function deletionNotification(row: DeletionNotificationFacts, opts: { actor: string | null; approvers: string[]; at: Date }): NotificationEvent | null {
  const type = DELETION_EVENT_OF_STATE[row.state];
  if (!type) return null;
  const actor = opts.actor ?? (type === 'deletion.awaiting_approval' ? row.requestedBy
    : type === 'deletion.approved' || type === 'deletion.rejected' ? row.authorizer : null);
  return {
    id: `deletion_request:${row.id}:${type}`, type, occurredAt: opts.at.toISOString(), subject: { type: 'deletion_request', id: String(row.id) },
    deletion: deletionData(row, actor, type === 'deletion.awaiting_approval' ? opts.approvers : undefined),
  };
}

/** The reminder that a pending request expires soon (sent once per request). */
export function deletionReminder(row: DeletionNotificationFacts, approvers: string[], at: Date): NotificationEvent {
  return {
    id: `deletion_request:${row.id}:deletion.expiring_soon`, type: 'deletion.expiring_soon', occurredAt: at.toISOString(),
    subject: { type: 'deletion_request', id: String(row.id) }, deletion: deletionData(row, null, approvers),
  };
}

/**
 * Whether a pending request is due its reminder at `now`: inside the lead time before its expiry, and created before
 * that window opened (a request younger than the lead time was announced with its expiry moments ago).
 */
export function reminderDue(row: { state: string; requestedAt: Date; expiresAt: Date }, leadHours: number, now: Date): boolean {
  const remindAt = row.expiresAt.getTime() - leadHours * 3600_000;
  return row.state === 'pending' && now.getTime() >= remindAt && now.getTime() < row.expiresAt.getTime() && row.requestedAt.getTime() < remindAt;
}

export interface ClosedJobFacts {
  id: string; branchId: number; branchName: string; username: string | null; state: string; error: string | null;
  drift: Record<string, unknown>;
}
export interface ResultFacts { key: string; vmid: number | null; name: string | null; status: string; reason: string | null }

/** Result statuses an operator must look at (README "Apply runs"). */
const NEEDS_OPERATOR: readonly string[] = ['unknown', 'blocked'];
/** The results an `apply.needs_operator` event lists, at most ATTENTION_LIST_CAP of them (in key order). */
export const ATTENTION_STATUSES: readonly string[] = ['unknown', 'blocked', 'failed'];
export const ATTENTION_LIST_CAP = 50;

/** What a closed job's events need of its results: the count per status, and the first results needing attention. */
export interface ResultsSummary { counts: Partial<Record<string, number>>; attention: readonly ResultFacts[] }

/**
 * The events of a closed apply job: always `apply.finished`; `apply.drift_found` when the read-back found drift (or could
 * not verify a guest); `apply.needs_operator` for unknown outcomes, results blocked by a gate, or a job failed as a whole
 * (not for a deliberate cancel).
 */
export function applyNotifications(job: ClosedJobFacts, results: ResultsSummary, opts: { cancelled: boolean; at: Date }): NotificationEvent[] {
  const counts = Object.fromEntries(Object.entries(results.counts).filter(([, n]) => n)) as Record<string, number>;
  const base: ApplyNotificationData = {
    jobId: job.id, branchId: job.branchId, branchName: job.branchName, mergedBy: job.username, state: job.state, cancelled: opts.cancelled,
    error: safe(job.error), counts,
  };
  const event = (type: NotificationEventType, extra: Partial<ApplyNotificationData> = {}): NotificationEvent => ({
    id: `apply_job:${job.id}:${type}`, type, occurredAt: opts.at.toISOString(), subject: { type: 'apply_job', id: job.id }, apply: { ...base, ...extra },
  });
  const out = [event('apply.finished')];
  const drift = driftedGuests(job.drift);
  if (drift.length) out.push(event('apply.drift_found', { drift: drift.slice(0, ATTENTION_LIST_CAP) }));
  const needsOperator = !opts.cancelled && (job.state === 'failed' || NEEDS_OPERATOR.some((s) => counts[s]));
  if (needsOperator) {
    const attention = results.attention.filter((r) => ATTENTION_STATUSES.includes(r.status)).slice(0, ATTENTION_LIST_CAP)
      .map((r) => ({ key: r.key, vmid: r.vmid, name: r.name, status: r.status, reason: safe(r.reason) }));
    out.push(event('apply.needs_operator', { attention }));
  }
  return out;
}

/** The guests of a job's `drift` column, by field name only: what Proxmox holds may be a secret (cloud-init). */
function driftedGuests(drift: Record<string, unknown>): z.infer<typeof DriftedGuest>[] {
  return Object.entries(drift).map(([key, d]) => {
    const entry = (d ?? {}) as { vmid?: unknown; fields?: unknown; unverified?: unknown };
    const fields = Array.isArray(entry.fields) ? entry.fields.map((f) => String((f as { field?: unknown }).field ?? '')).filter(Boolean) : [];
    return { key, vmid: typeof entry.vmid === 'number' ? entry.vmid : null, fields, unverified: entry.unverified !== undefined };
  }).filter((g) => g.fields.length > 0 || g.unverified);
}

export function testNotification(destinationId: number, nonce: string, at: Date): NotificationEvent {
  return {
    id: `notification_destination:${destinationId}:test:${nonce}`, type: 'test', occurredAt: at.toISOString(),
    subject: { type: 'notification_destination', id: String(destinationId) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions

export interface Subscriber { id: number; kind: DestinationKind; events: readonly string[]; enabled: boolean }

/** The outbox rows an event becomes: one per enabled destination subscribed to its type, as they are at enqueue time. */
export function notificationDeliveries(events: readonly NotificationEvent[], destinations: readonly Subscriber[]):
  { channel: DestinationKind; destinationId: number; dedupeKey: string; event: NotificationEvent }[] {
  return events.flatMap((event) => destinations
    .filter((d) => d.enabled && d.events.includes(event.type))
    .map((d) => ({ channel: d.kind, destinationId: d.id, dedupeKey: `${event.id}:destination:${d.id}`, event })));
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies

export interface NotificationLinks { publicUrl: string | null }

function linkOf(event: NotificationEvent, links: NotificationLinks): { ui: string | null; api: string } | null {
  const path = event.subject.type === 'apply_job' ? `apply-jobs/${event.subject.id}`
    : event.subject.type === 'deletion_request' ? `deletion-requests/${event.subject.id}` : null;
  if (!path) return null;
  return { ui: links.publicUrl ? `${links.publicUrl.replace(/\/+$/, '')}/ui/${path}` : null, api: `/api/v1/${path}` };
}

/** The JSON a generic webhook receives (its raw bytes are what the signature covers). */
export function webhookBody(event: NotificationEvent, links: NotificationLinks): string {
  const data = event.deletion ?? event.apply ?? {};
  return JSON.stringify({ id: event.id, type: event.type, occurredAt: event.occurredAt, subject: event.subject, data, links: linkOf(event, links) });
}

/** Slack's mrkdwn: `&`, `<` and `>` escaped, so a name cannot become a link or a mention. */
export function slackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const DELETION_HEADLINE: Partial<Record<SentEventType, string>> = {
  'deletion.awaiting_approval': 'Deletion awaiting approval',
  'deletion.expiring_soon': 'Deletion request expires soon',
  'deletion.approved': 'Deletion approved',
  'deletion.rejected': 'Deletion rejected',
  'deletion.expired': 'Deletion request expired',
  'deletion.executed': 'Guest destroyed',
  'deletion.failed': 'Deletion failed',
};

/** One line of text (Slack-compatible incoming webhooks: `{"text": …}`). */
export function slackBody(event: NotificationEvent, links: NotificationLinks): string {
  const link = linkOf(event, links);
  const see = link ? (link.ui ? ` <${link.ui}|details>` : ` (${link.api})`) : '';
  const t = slackText;
  let text: string;
  if (event.deletion) {
    const d = event.deletion;
    const extra = event.type === 'deletion.awaiting_approval' || event.type === 'deletion.expiring_soon'
      ? ` Requested by ${t(d.requestedBy)}; may approve: ${d.approvers?.length ? d.approvers.map(t).join(', ') : 'nobody (grant authorize_deletion_request)'}; expires ${d.expiresAt}.`
      : `${d.actor ? ` By ${t(d.actor)}.` : ''}${d.reasonCode ? ` Reason: ${t(d.reasonCode)}.` : ''}${d.reason ? ` ${t(d.reason)}` : ''}`;
    text = `*${DELETION_HEADLINE[event.type] ?? event.type}*: ${d.kind} ${d.vmid} ${t(d.name)} on ${t(d.node)} (branch ${t(d.branchName)}).${extra}${see}`;
  } else if (event.apply) {
    const a = event.apply;
    const counts = Object.entries(a.counts).sort(([x], [y]) => x.localeCompare(y)).map(([s, n]) => `${n} ${s.replace(/_/g, ' ')}`).join(', ') || 'no guest changes';
    const head = event.type === 'apply.drift_found' ? `*Drift found* after the apply of branch ${t(a.branchName)}: ${a.drift?.length ?? 0} guest(s)`
      : event.type === 'apply.needs_operator' ? `*Apply needs an operator*: branch ${t(a.branchName)} ${a.state}` + (a.attention?.length
        ? ` (${a.attention.slice(0, 5).map((r) => `${r.vmid ?? r.key} ${r.status}`).join(', ')}${a.attention.length > 5 ? ', …' : ''})` : '')
      : `*Apply ${a.cancelled ? 'cancelled' : a.state}*: branch ${t(a.branchName)}${a.mergedBy ? `, merged by ${t(a.mergedBy)}` : ''}; ${counts}`;
    text = `${head}.${a.error && event.type !== 'apply.drift_found' ? ` Error: ${t(a.error)}` : ''}${see}`;
  } else {
    text = '*proxbox-intent test notification*: this destination is reachable.';
  }
  return JSON.stringify({ text });
}

// ---------------------------------------------------------------------------------------------------------------
// Signing (Stripe-like): `X-Proxbox-Intent-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`

export const SIGNATURE_HEADER = 'X-Proxbox-Intent-Signature';
export const EVENT_ID_HEADER = 'X-Proxbox-Intent-Event-Id';
export const EVENT_TYPE_HEADER = 'X-Proxbox-Intent-Event';
/** Receivers should refuse a signature older than this (replays). */
export const SIGNATURE_TOLERANCE_S = 300;

export function signatureHeader(secret: string, unixSeconds: number, rawBody: string): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${rawBody}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

/** What a receiver does: recompute over the raw bytes, compare in constant time, refuse a stale timestamp. */
export function verifySignature(secret: string, header: string | null | undefined, rawBody: string, nowS: number,
  toleranceS = SIGNATURE_TOLERANCE_S): boolean {
  const parts = new Map((header ?? '').split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS || !/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = signatureHeader(secret, t, rawBody).split('v1=')[1]!;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

// ---------------------------------------------------------------------------------------------------------------
// Sending

/** Retried this long after the event was recorded, then the delivery is `failed`. */
export const NOTIFICATION_GIVE_UP_MS = 24 * 3600_000;

/** A 2xx is delivered; 408, 425, 429 and 5xx may pass and are retried; any other answer (a redirect, a 4xx) will not. */
export function httpOutcome(status: number): 'delivered' | 'retry' | 'permanent' {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retry';
  return 'permanent';
}

export function httpFailureHint(status: number): string {
  if (status >= 300 && status < 400) return 'Redirects are not followed: configure the final URL.';
  if (status === 401 || status === 403) return 'The receiver refused the request: check its secret or token.';
  if (status === 404 || status === 410) return 'The receiver does not exist at this URL.';
  return '';
}

// ---------------------------------------------------------------------------------------------------------------
// Destinations (API input)

/** Where a notification may go: http(s) with https required unless NOTIFICATIONS_ALLOW_HTTP, nothing hiding the host. */
export function notificationUrlRefusal(url: string, opts: { allowHttp: boolean }): string | null {
  const parsed = checkOutboundUrl(url, {
    name: 'the URL', allowHttp: opts.allowHttp, refuseQuery: false,
    httpRefusal: 'plain http is refused for notifications; use https, or set NOTIFICATIONS_ALLOW_HTTP=true',
  });
  return typeof parsed === 'string' ? parsed : null;
}

/** What the API shows of a URL: scheme, host and path of a webhook (its query may hold a token); only the host of Slack's. */
export function shownUrl(kind: DestinationKind, url: string): string {
  const u = new URL(url);
  return kind === 'slack' ? `${u.protocol}//${u.host}/…` : `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}

const Name = z.string().trim().min(1).max(100);
const Url = z.string().trim().min(1).max(2000);
const Secret = z.string().min(16, 'must be at least 16 characters').max(256);
const Events = z.array(z.enum(NOTIFICATION_EVENT_TYPES)).min(1).max(NOTIFICATION_EVENT_TYPES.length)
  .transform((e) => [...new Set(e)].sort());

export const NotificationDestinationInput = z.strictObject({
  name: Name,
  kind: z.enum(DESTINATION_KINDS),
  /** The webhook's URL, or the Slack incoming-webhook URL (itself the secret: never returned). */
  url: Url,
  /** Webhooks: the HMAC-SHA256 key receivers verify with (never returned). Slack: not accepted. */
  secret: Secret.optional(),
  events: Events,
  enabled: z.boolean().default(true),
}).superRefine((d, ctx) => {
  if (d.kind === 'webhook' && !d.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a webhook needs a secret (at least 16 characters) to sign with' });
  if (d.kind === 'slack' && d.secret) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a Slack destination has no secret: its URL is the secret' });
});
export type NotificationDestinationInput = z.infer<typeof NotificationDestinationInput>;

export const NotificationDestinationPatch = z.strictObject({
  name: Name.optional(),
  url: Url.optional(),
  secret: Secret.optional(),
  events: Events.optional(),
  enabled: z.boolean().optional(),
});
export type NotificationDestinationPatch = z.infer<typeof NotificationDestinationPatch>;

/** The subject a destination's test delivery belongs to. */
export function destinationSubject(id: number): DeliverySubject {
  return { type: 'notification_destination', id: String(id) };
}
