import type { DeletionRow } from '../../db/deletion-requests';
import type { DeletionHistoryEntry } from '../../db/schema';
import { DELETION_STATES, isManuallyConfirmable } from '../../domain/deletion-rules';
import { DELETION_REASON_CODES } from '../../domain/result-reasons';
import type { RunTrouble } from '../../services/run-trouble';
import { StateBadge } from '../components/badge';
import { Callout, Reason, RefusalCallout } from '../components/callout';
import { Field, FilterForm, PostForm, StateFilter } from '../components/form';
import { Layout } from '../components/layout';
import { Pagination, Table, Time } from '../components/table';
import type { PageUser } from '../context';
import { jobPath } from './apply-jobs';

export const deletionPath = (id: number) => `/ui/deletion-requests/${id}`;

/** "in 6 days", "3 h ago": how far a time is from now (hours up to 36, so days are always 2 or more). */
export function relativeTime(at: Date, now: Date): string {
  const s = Math.round((at.getTime() - now.getTime()) / 1000);
  const abs = Math.abs(s);
  const [n, unit] = abs < 90 ? [abs, 's'] : abs < 90 * 60 ? [Math.round(abs / 60), 'min'] : abs < 36 * 3600 ? [Math.round(abs / 3600), 'h']
    : [Math.round(abs / 86400), 'days'];
  return s >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

/** When a request expires: relative for people, absolute (UTC) beside it; only pending requests can still expire. */
export function Expiry(props: { request: DeletionRow; now: Date }) {
  const { request } = props;
  if (request.state !== 'pending') return <span class="muted"><Time at={request.expiresAt} /></span>;
  return <span><strong>{relativeTime(request.expiresAt, props.now)}</strong> <span class="muted">(<Time at={request.expiresAt} />)</span></span>;
}

/** A request's reason code with its meaning (domain/result-reasons.ts), then the other reason vocabularies. */
function DeletionReason(props: { code: string | null }) {
  const meaning = props.code ? (DELETION_REASON_CODES as Record<string, string>)[props.code] : undefined;
  if (!meaning) return <Reason code={props.code} />;
  return <span><code>{props.code}</code><span class="muted">: {meaning}</span></span>;
}

const Guest = (props: { r: DeletionRow }) => <span>{props.r.name} <span class="muted">({props.r.kind} {props.r.vmid} on {props.r.node})</span></span>;

export interface DeletionListFilter { state?: string | undefined; branchId?: string | undefined; vmid?: string | undefined }

/**
 * The list: without a state filter, the pending requests first (soonest expiry first, on the first page), then every
 * decided one, newest first, paginated.
 */
export function DeletionListPage(props: { user: PageUser; csrfToken: string; filter: DeletionListFilter; now: Date;
  pending: DeletionRow[] | null; pendingCapped: boolean; rows: DeletionRow[]; nextCursor: string | null; isFirst: boolean;
  refusal?: { code: string; detail: string } | undefined }) {
  const { filter } = props;
  const columns = [
    { header: 'Request', cell: (d: DeletionRow) => <a href={deletionPath(d.id)}>#{d.id}</a> },
    { header: 'Guest', cell: (d: DeletionRow) => <Guest r={d} /> },
    { header: 'Branch', cell: (d: DeletionRow) => <span>{d.branchName} <span class="muted">#{d.branchId}</span></span> },
    { header: 'Requested by', cell: (d: DeletionRow) => d.requestedBy },
    { header: 'State', cell: (d: DeletionRow) => <StateBadge state={d.state} /> },
    { header: 'Expires', cell: (d: DeletionRow) => <Expiry request={d} now={props.now} /> },
  ];
  return (
    <Layout title="Deletion requests" user={props.user} csrfToken={props.csrfToken} current="/ui/deletion-requests">
      <FilterForm action="/ui/deletion-requests" label="Filter deletion requests" refusal={props.refusal}>
        <StateFilter value={filter.state} states={DELETION_STATES} />
        <Field id="branchId" label="Branch id" value={filter.branchId} inputmode="numeric" />
        <Field id="vmid" label="VMID" value={filter.vmid} inputmode="numeric" />
      </FilterForm>
      {props.pending && (
        <section aria-labelledby="pending">
          <h2 id="pending">Pending: awaiting a decision</h2>
          <Table caption="Pending deletion requests, the soonest to expire first" rows={props.pending} empty="No deletion request is pending." columns={columns} />
          {props.pendingCapped && <p class="muted">Only the first {props.pending.length} are shown here; filter by state <code>pending</code> to page through them all.</p>}
        </section>
      )}
      {props.pending && <h2 id="decided">Decided</h2>}
      <Table caption={props.pending ? 'Decided deletion requests, newest first' : 'Deletion requests, newest first'} rows={props.rows}
        empty="No deletion request matches." columns={columns} />
      <Pagination basePath="/ui/deletion-requests" query={{ state: filter.state, branchId: filter.branchId, vmid: filter.vmid }}
        nextCursor={props.nextCursor} isFirst={props.isFirst} />
    </Layout>
  );
}

/** Which form a refusal or a form error belongs to, so it is shown beside that form. */
export type DeletionAction = 'approve' | 'reject' | 'confirm-destroyed';

export interface DeletionDetail { request: DeletionRow; trouble: RunTrouble | null; temporalUrl: string }

const NOTICES: Record<string, string> = {
  approved: 'Approved: the request goes on to be destroyed (the page shows its progress when reloaded).',
  rejected: 'Rejected: nothing will be destroyed.',
  confirmed: 'Confirmed: the cluster no longer lists the guest; the request has succeeded (manually destroyed).',
};

export function DeletionRequestPage(props: { user: PageUser; csrfToken: string; detail: DeletionDetail; now: Date; mayDecide: boolean;
  done?: string | undefined; failed?: { action: DeletionAction; refusal: { code: string; detail: string } } | undefined }) {
  const { request: r, trouble, temporalUrl } = props.detail;
  const refusalFor = (action: DeletionAction) => props.failed?.action === action ? <RefusalCallout refusal={props.failed.refusal} /> : null;
  const notice = props.done ? NOTICES[props.done] : undefined;
  const snapshot = Object.entries(r.metadataSnapshot);
  const confirmable = isManuallyConfirmable(r);
  return (
    <Layout title={`Deletion request #${r.id}`} user={props.user} csrfToken={props.csrfToken} current="/ui/deletion-requests">
      {notice && <Callout tone="ok"><p>{notice}</p></Callout>}
      <dl class="facts">
        <dt>State</dt><dd><StateBadge state={r.state} /></dd>
        <dt>Guest</dt><dd>{r.kind} <strong>{r.vmid}</strong> {r.name} on node {r.node} <span class="muted">(NetBox VM {r.netboxId})</span></dd>
        <dt>Branch</dt><dd>{r.branchName} <span class="muted">#{r.branchId} · {r.branchSchemaId}</span></dd>
        <dt>Apply job</dt><dd>{r.applyJobId ? <a href={jobPath(r.applyJobId)} class="mono">{r.applyJobId.slice(0, 8)}</a> : '—'}</dd>
        <dt>Requested by</dt><dd>{r.requestedBy}, <Time at={r.requestedAt} /></dd>
        <dt>Expires</dt><dd><Expiry request={r} now={props.now} /></dd>
        <dt>Decided by</dt><dd>{r.authorizer ?? '—'}{r.decidedAt && <span>, <Time at={r.decidedAt} /></span>}</dd>
        {r.confirmedBy && <><dt>Confirmed destroyed by</dt><dd>{r.confirmedBy}</dd></>}
        <dt>Executed</dt><dd><Time at={r.executedAt} /></dd>
        <dt>Finished</dt><dd><Time at={r.finishedAt} /></dd>
        <dt>Reason</dt><dd><DeletionReason code={r.reasonCode} />{r.reason && <p>{r.reason}</p>}</dd>
        {r.proxmoxUpid && <><dt>Proxmox task</dt><dd><code>{r.proxmoxUpid}</code></dd></>}
        <dt>Tagged pending deletion</dt><dd>{r.taggedPendingDeletion ? 'yes' : 'no'}</dd>
        <dt>Workflow</dt><dd><code>{r.workflowId}</code> · <a href={temporalUrl}>Open the run in the Temporal UI</a></dd>
      </dl>
      {trouble && (
        <Callout tone="warn" title="Temporal is retrying a step">
          <p>{trouble.activity}: attempt {trouble.attempt}{trouble.lastFailure ? `, last failure: ${trouble.lastFailure}` : ''}{trouble.nextAttemptAt ? `; next attempt at ${trouble.nextAttemptAt}` : ''}.</p>
        </Callout>
      )}
      {props.mayDecide && r.state === 'pending' && (
        <section aria-labelledby="decide">
          <h2 id="decide">Decide</h2>
          <p>Four eyes: the requester ({r.requestedBy}) may not approve their own request. Approving lets the executor destroy {r.kind} {r.vmid} {r.name}.</p>
          {refusalFor('approve')}
          <PostForm action={`${deletionPath(r.id)}/approve`} csrfToken={props.csrfToken} class="stack">
            <Field id="approve-vmid" name="vmid" label="Type the VMID to approve" inputmode="numeric" autocomplete="off" required
              hint={`Type ${r.vmid}: the VMID of the guest to destroy.`} />
            <div><button type="submit" class="danger">Approve the deletion</button></div>
          </PostForm>
          {refusalFor('reject')}
          <PostForm action={`${deletionPath(r.id)}/reject`} csrfToken={props.csrfToken} class="stack">
            <Field id="reject-reason" name="reason" label="Reason for rejecting" hint="Required, 1 to 255 characters. Nothing is destroyed." />
            <div><button type="submit" class="secondary">Reject the request</button></div>
          </PostForm>
        </section>
      )}
      {props.mayDecide && confirmable && (
        <section aria-labelledby="confirm">
          <h2 id="confirm">Confirm manual destroy</h2>
          <Callout tone="warn">
            <p>This request failed with <code>{r.reasonCode}</code>: destroy {r.kind} {r.vmid} {r.name} in Proxmox by hand, then confirm here.
              The service reads the cluster itself; only a cluster that no longer lists VMID {r.vmid} closes the request. An authorizer other than the requester confirms.</p>
          </Callout>
          {refusalFor('confirm-destroyed')}
          <PostForm action={`${deletionPath(r.id)}/confirm-destroyed`} csrfToken={props.csrfToken} class="stack">
            <Field id="confirm-vmid" name="vmid" label="Type the VMID to confirm it is destroyed" inputmode="numeric" autocomplete="off" required
              hint={`Type ${r.vmid}.`} />
            <div><button type="submit" class="danger">Confirm manual destroy</button></div>
          </PostForm>
        </section>
      )}
      <h2 id="history">History</h2>
      <Table caption="Every decision and refused attempt, oldest first" rows={r.history} empty="No history."
        columns={[
          { header: 'When', cell: (h: DeletionHistoryEntry) => <Time at={new Date(h.at)} /> },
          { header: 'Who', cell: (h) => h.actor },
          { header: 'What', cell: (h) => h.action.replaceAll('_', ' ') },
          { header: 'Outcome', cell: (h) => <StateBadge state={h.outcome} /> },
          { header: 'Detail', cell: (h) => h.detail ?? '' },
        ]} />
      <h2 id="snapshot">Metadata snapshot</h2>
      <Table caption="The guest as it was when the deletion was requested" rows={snapshot} empty="No snapshot."
        columns={[
          { header: 'Field', cell: ([k]) => <code>{k}</code> },
          { header: 'Value', cell: ([, v]) => <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code> },
        ]} />
    </Layout>
  );
}
