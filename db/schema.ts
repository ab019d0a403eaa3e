import { sql } from 'drizzle-orm';
import {
  bigserial, boolean, check, index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp, uniqueIndex, uuid,
} from 'drizzle-orm/pg-core';
import { GUEST_KINDS } from '../domain/guest-kind';
import { DELETION_STATES } from '../domain/deletion-rules';
import { JOB_SOURCES, JOB_STATES } from '../domain/job-state';
import { DELIVERY_CHANNELS, DELIVERY_STATUSES, DELIVERY_SUBJECT_TYPES } from '../domain/deliveries';
import type { WritebackEvent } from '../domain/netbox-writeback';
import { DESTINATION_KINDS, type NotificationEvent } from '../domain/notifications';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  permissions: text('permissions').array().notNull().default(sql`'{}'::text[]`),
  createdAt: createdAt(),
});

export const apiTokens = pgTable('api_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  description: text('description').notNull().default(''),
  tokenHash: text('token_hash').notNull().unique(),
  /** Who issued it: a username, `cli:<os user>`, `system:bootstrap`, … */
  issuedBy: text('issued_by').notNull().default('unknown'),
  /**
   * Everyone who could have used the token that issued this one: the issuer, then that token's own chain. An approval
   * with this token counts as self-approval for every name in it.
   */
  issuerChain: text('issuer_chain').array().notNull().default(sql`'{}'::text[]`),
  createdAt: createdAt(),
  expiresAt: timestamp('expires_at', { withTimezone: true }),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
});

/** Every administrative change (users, permissions, tokens, settings, backend, endpoints, …); secrets masked. */
export const auditLog = pgTable('audit_log', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  target: text('target').notNull(),
  changes: jsonb('changes').$type<Record<string, unknown>>().notNull().default({}),
}, (t) => [index('audit_log_actor').on(t.actor, t.id), index('audit_log_action').on(t.action, t.id), index('audit_log_at').on(t.at)]);

/** One row (id = 1): the instance-wide intent settings. */
export const settings = pgTable('settings', {
  id: integer('id').primaryKey().default(1),
  netboxToProxmoxEnabled: boolean('netbox_to_proxmox_enabled').notNull().default(false),
  typedConfirmation: text('typed_confirmation'),
  selfApproveAllowed: boolean('self_approve_allowed').notNull().default(false),
  deletionRequestTtlDays: integer('deletion_request_ttl_days').notNull().default(7),
  warnPlaintextPassword: boolean('warn_plaintext_password').notNull().default(true),
  /** Lifetime of new API tokens in days; null: they do not expire unless their creator says so. */
  tokenLifetimeDays: integer('token_lifetime_days'),
  /** How long before a pending deletion request expires its reminder is sent (README "Notifications"). */
  deletionReminderLeadHours: integer('deletion_reminder_lead_hours').notNull().default(24),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  updatedBy: text('updated_by'),
}, (t) => [
  check('settings_singleton', sql`${t.id} = 1`),
  check('settings_ttl_min', sql`${t.deletionRequestTtlDays} >= 1`),
  check('settings_reminder_lead_min', sql`${t.deletionReminderLeadHours} >= 1`),
  check('settings_token_lifetime_min', sql`${t.tokenLifetimeDays} is null or ${t.tokenLifetimeDays} >= 1`),
]);

/** One row (id = 1): the proxbox-api backend (the seed's FastAPIEndpoint). */
export const backend = pgTable('backend', {
  id: integer('id').primaryKey().default(1),
  url: text('url').notNull(),
  /** Sealed with SECRETS_ENCRYPTION_KEY (domain/secret-box.ts); never plaintext after a start. */
  apiKey: text('api_key').notNull(),
  timeoutMs: integer('timeout_ms').notNull().default(30_000),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [check('backend_singleton', sql`${t.id} = 1`)]);

export const proxmoxEndpoints = pgTable('proxmox_endpoints', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  backendEndpointId: integer('backend_endpoint_id').notNull(),
  allowWrites: boolean('allow_writes').notNull().default(false),
  clusters: text('clusters').array().notNull().default(sql`'{}'::text[]`),
  isDefault: boolean('is_default').notNull().default(false),
  /** The Proxmox bridge of a NIC whose interface and VM name none (domain/nics.ts); null: none. */
  defaultBridge: text('default_bridge'),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [uniqueIndex('proxmox_endpoints_one_default').on(t.isDefault).where(sql`${t.isDefault}`)]);

export const applyJobs = pgTable('apply_jobs', {
  id: uuid('id').primaryKey().defaultRandom(),
  workflowId: text('workflow_id').notNull().unique(),
  runUuid: text('run_uuid').notNull(),
  branchId: integer('branch_id').notNull(),
  branchSchemaId: text('branch_schema_id').notNull(),
  branchName: text('branch_name').notNull(),
  mergedAt: timestamp('merged_at', { withTimezone: true }).notNull(),
  username: text('username'),
  state: text('state', { enum: JOB_STATES }).notNull().default('queued'),
  source: text('source', { enum: JOB_SOURCES }).notNull(),
  error: text('error'),
  drift: jsonb('drift').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: createdAt(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** The first Temporal run that claimed this job; no other run of any workflow may write under it. */
  temporalRunId: text('temporal_run_id'),
  /** Set once Temporal has the run: a job whose workflow started is never started again, whatever Temporal remembers. */
  workflowStartedAt: timestamp('workflow_started_at', { withTimezone: true }),
  /** The process that will start the workflow holds this claim (it lapses, so a crash before the start is recovered). */
  startClaimedAt: timestamp('start_claimed_at', { withTimezone: true }),
  /** Who merged, as a webhook body claimed it, when that disagreed with NetBox's REST answer (which `username` holds). */
  claimedMergedBy: text('claimed_merged_by'),
  /** A deliberate re-apply of a merge older than the look-back window: who, when, and the phrase they typed. */
  reappliedBy: text('reapplied_by'),
  reappliedAt: timestamp('reapplied_at', { withTimezone: true }),
  reapplyConfirmation: text('reapply_confirmation'),
}, (t) => [
  index('apply_jobs_branch').on(t.branchId), index('apply_jobs_state').on(t.state),
  // One apply per merge, for ever: PostgreSQL decides, not Temporal's retention.
  uniqueIndex('apply_jobs_one_per_merge').on(t.branchSchemaId, t.mergedAt),
]);

/** Per-diff outcome of an apply job, written as each VM finishes. */
export const applyResults = pgTable('apply_results', {
  jobId: uuid('job_id').notNull().references(() => applyJobs.id, { onDelete: 'cascade' }),
  key: text('key').notNull(),
  vmid: integer('vmid'),
  netboxId: integer('netbox_id'),
  name: text('name'),
  op: text('op').notNull(),
  kind: text('kind'),
  status: text('status').notNull(),
  reason: text('reason'),
  message: text('message').notNull().default(''),
  proxmoxUpid: text('proxmox_upid'),
  deletionRequestId: integer('deletion_request_id'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.jobId, t.key] })]);

/**
 * The work list of an apply job, written once at plan time: one row per item that passed every check, in plan order
 * (`seq`). Runs read it a page at a time by position, so nothing that travels through Temporal grows with the branch;
 * an item's outcome is its row in apply_results. The item itself (its payload may carry cloud-init secrets) is sealed
 * with SECRETS_ENCRYPTION_KEY; what names the VM stays readable for the sweeps that record results.
 */
export const applyWorkItems = pgTable('apply_work_items', {
  jobId: uuid('job_id').notNull().references(() => applyJobs.id, { onDelete: 'cascade' }),
  seq: integer('seq').notNull(),
  key: text('key').notNull(),
  vmid: integer('vmid').notNull(),
  netboxId: integer('netbox_id').notNull(),
  name: text('name').notNull(),
  op: text('op').notNull(),
  kind: text('kind', { enum: GUEST_KINDS }).notNull(),
  node: text('node').notNull(),
  sealedItem: text('sealed_item').notNull(),
}, (t) => [primaryKey({ columns: [t.jobId, t.seq] }), uniqueIndex('apply_work_items_key').on(t.jobId, t.key)]);

/** The live log of an apply job (SSE); each insert is announced with NOTIFY apply_events. */
export const applyEvents = pgTable('apply_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  jobId: uuid('job_id').notNull().references(() => applyJobs.id, { onDelete: 'cascade' }),
  type: text('type', { enum: ['plan_summary', 'dispatch', 'result', 'log', 'complete'] }).notNull(),
  dedupeKey: text('dedupe_key'),
  data: jsonb('data').notNull(),
  createdAt: createdAt(),
}, (t) => [
  index('apply_events_job').on(t.jobId, t.id),
  uniqueIndex('apply_events_dedupe').on(t.jobId, t.dedupeKey),
]);

export interface DeletionHistoryEntry {
  at: string;
  actor: string;
  action: string;
  outcome: 'ok' | 'refused' | 'error';
  detail?: string;
  /** The nonce of the signed decision this entry records, so a retried decision is recognised as already applied. */
  ref?: string;
}

export const deletionRequests = pgTable('deletion_requests', {
  id: serial('id').primaryKey(),
  workflowId: text('workflow_id').notNull().unique(),
  state: text('state', { enum: DELETION_STATES }).notNull().default('pending'),
  vmid: integer('vmid').notNull(),
  node: text('node').notNull(),
  kind: text('kind', { enum: GUEST_KINDS }).notNull(),
  name: text('name').notNull(),
  netboxId: integer('netbox_id').notNull(),
  changeDiffId: integer('change_diff_id').notNull(),
  clusterKey: text('cluster_key'),
  endpointId: integer('endpoint_id').notNull().references(() => proxmoxEndpoints.id),
  branchId: integer('branch_id').notNull(),
  branchSchemaId: text('branch_schema_id').notNull(),
  branchName: text('branch_name').notNull(),
  applyJobId: uuid('apply_job_id').references(() => applyJobs.id, { onDelete: 'set null' }),
  requestedBy: text('requested_by').notNull(),
  requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  authorizer: text('authorizer'),
  /** The issuer chain of the token the approval was made with (re-checked against the requester before the destroy). */
  authorizerTokenIssuers: text('authorizer_token_issuers').array().notNull().default(sql`'{}'::text[]`),
  decidedAt: timestamp('decided_at', { withTimezone: true }),
  /** Who confirmed that the guest was destroyed by hand (reasonCode `manually_destroyed`); `finishedAt` says when. */
  confirmedBy: text('confirmed_by'),
  executedAt: timestamp('executed_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  reason: text('reason'),
  /** Stable snake_case code beside `reason` (for example `backend_cannot_register_deletion`, `expired`). */
  reasonCode: text('reason_code'),
  backendRecordId: integer('backend_record_id'),
  proxmoxUpid: text('proxmox_upid'),
  taggedPendingDeletion: boolean('tagged_pending_deletion').notNull().default(false),
  metadataSnapshot: jsonb('metadata_snapshot').$type<Record<string, unknown>>().notNull(),
  history: jsonb('history').$type<DeletionHistoryEntry[]>().notNull().default([]),
}, (t) => [
  index('deletion_requests_state').on(t.state),
  index('deletion_requests_branch').on(t.branchId),
  index('deletion_requests_vmid').on(t.vmid),
]);

export interface QuotaEntry {
  id: string;
  /** Epoch milliseconds (database clock) after which the entry no longer counts. */
  until: number;
  /** How much of the limit the entry takes. */
  w: number;
}

/**
 * Counted quotas shared by every API process (db/quotas.ts): one row per key holding its live entries. Rate limits
 * are entries that lapse after their window; concurrent-stream caps are leases renewed while the stream is open.
 */
export const quotas = pgTable('quotas', {
  key: text('key').primaryKey(),
  entries: jsonb('entries').$type<QuotaEntry[]>().notNull().default([]),
  /** When the last entry lapses; rows past it are pruned. */
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
}, (t) => [index('quotas_expires').on(t.expiresAt)]);

/**
 * Browser sessions of the operator pages (ui/): the cookie holds a random secret, only its SHA-256 is stored. A session
 * lives as long as the token it was opened with (revoking the token, or deleting the user, ends it) and no longer than
 * its idle and absolute limits (domain/sessions.ts).
 */
export const uiSessions = pgTable('ui_sessions', {
  id: uuid('id').primaryKey().defaultRandom(),
  secretHash: text('secret_hash').notNull().unique(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  tokenId: uuid('token_id').notNull().references(() => apiTokens.id, { onDelete: 'cascade' }),
  createdAt: createdAt(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  /** The absolute limit; the idle limit is counted from `lastSeenAt`. */
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  revokedBy: text('revoked_by'),
}, (t) => [index('ui_sessions_user').on(t.userId)]);

/**
 * Where notifications go (README "Notifications"): a signed JSON webhook or a Slack-compatible incoming webhook, each
 * with the events it wants. The URL and the secret are sealed with SECRETS_ENCRYPTION_KEY and never returned.
 */
export const notificationDestinations = pgTable('notification_destinations', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind', { enum: DESTINATION_KINDS }).notNull(),
  /** Sealed (context `notification_destination.url`): a Slack URL is itself the secret, a webhook's query may hold one. */
  urlSealed: text('url_sealed').notNull(),
  /** What the API shows of the URL (domain/notifications.ts shownUrl). */
  urlShown: text('url_shown').notNull(),
  /** Sealed (context `notification_destination.secret`); webhooks only. */
  secretSealed: text('secret_sealed'),
  events: text('events').array().notNull(),
  enabled: boolean('enabled').notNull().default(true),
  createdBy: text('created_by'),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The outbox of what the service tells other systems: journal entries and stamps in NetBox (netbox.md §7.6) and
 * notifications to the configured destinations. Rows are written in the same transaction as the state they describe
 * and delivered by the DeliveryWorkflow of their subject; each keeps its own attempts and last error, shown on the
 * apply job or deletion request (and, for notifications, under its destination).
 */
export const deliveries = pgTable('deliveries', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  subjectType: text('subject_type', { enum: DELIVERY_SUBJECT_TYPES }).notNull(),
  subjectId: text('subject_id').notNull(),
  channel: text('channel', { enum: DELIVERY_CHANNELS }).notNull(),
  /** One delivery per fact, for ever: a retried or repeated transition finds its row and adds none. */
  dedupeKey: text('dedupe_key').notNull().unique(),
  event: jsonb('event').$type<WritebackEvent | NotificationEvent>().notNull(),
  /** The notification destination (webhook and slack channels); null for NetBox, or once the destination is removed. */
  destinationId: integer('destination_id').references(() => notificationDestinations.id, { onDelete: 'set null' }),
  status: text('status', { enum: DELIVERY_STATUSES }).notNull().default('pending'),
  /** Attempts started (counted before sending: a pending row with attempts may have reached NetBox). */
  attempts: integer('attempts').notNull().default(0),
  lastError: text('last_error'),
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
  /** Held by the attempt in progress; a lapsed lease (a lost worker) lets the next attempt take the row. */
  leasedUntil: timestamp('leased_until', { withTimezone: true }),
  /** What the receiver made of it (the journal entry's id), or why nothing was sent. */
  receipt: text('receipt'),
  deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('deliveries_subject').on(t.subjectType, t.subjectId, t.id),
  index('deliveries_pending').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
  index('deliveries_destination').on(t.destinationId, t.id),
]);
