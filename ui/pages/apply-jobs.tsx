import type { JobRow, VmResult } from '../../db/apply-jobs';
import { JOB_STATES, isActiveJobState } from '../../domain/job-state';
import type { RunTrouble } from '../../services/run-trouble';
import { assetPath } from '../assets';
import { StateBadge } from '../components/badge';
import { Callout, Reason, RefusalCallout } from '../components/callout';
import { Field, FilterForm, PostForm, StateFilter } from '../components/form';
import { Layout } from '../components/layout';
import { Pagination, Table, Time } from '../components/table';
import type { PageUser } from '../context';

export const jobPath = (id: string) => `/ui/apply-jobs/${id}`;

export function JobLink(props: { job: JobRow }) {
  return <a href={jobPath(props.job.id)} class="mono">{props.job.id.slice(0, 8)}</a>;
}

export interface JobListFilter { state?: string | undefined; branchId?: string | undefined; user?: string | undefined }

export function ApplyJobListPage(props: { user: PageUser; csrfToken: string; filter: JobListFilter; jobs: JobRow[]; nextCursor: string | null;
  isFirst: boolean; refusal?: { code: string; detail: string } | undefined }) {
  const { filter } = props;
  return (
    <Layout title="Apply jobs" user={props.user} csrfToken={props.csrfToken} current="/ui/apply-jobs">
      <FilterForm action="/ui/apply-jobs" label="Filter apply jobs" refusal={props.refusal}>
        <StateFilter value={filter.state} states={JOB_STATES} />
        <Field id="branchId" label="Branch id" value={filter.branchId} inputmode="numeric" />
        <Field id="user" label="User" value={filter.user} />
      </FilterForm>
      <Table caption="Apply jobs, newest first" rows={props.jobs} empty="No apply job matches."
        columns={[
          { header: 'Job', cell: (j) => <JobLink job={j} /> },
          { header: 'Branch', cell: (j) => <span>{j.branchName} <span class="muted">#{j.branchId}</span></span> },
          { header: 'User', cell: (j) => j.username ?? '—' },
          { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
          { header: 'Merged', cell: (j) => <Time at={j.mergedAt} /> },
          { header: 'Finished', cell: (j) => <Time at={j.finishedAt} /> },
        ]} />
      <Pagination basePath="/ui/apply-jobs" query={{ state: filter.state, branchId: filter.branchId, user: filter.user }} nextCursor={props.nextCursor} isFirst={props.isFirst} />
    </Layout>
  );
}

export interface JobDetail { job: JobRow; results: VmResult[]; trouble: RunTrouble | null; temporalUrl: string }

export function ApplyJobPage(props: { user: PageUser; csrfToken: string; detail: JobDetail; mayCancel: boolean; notice?: string | undefined }) {
  const { job, results, trouble, temporalUrl } = props.detail;
  const active = isActiveJobState(job.state);
  const drift = Object.entries(job.drift ?? {});
  return (
    <Layout title={`Apply job ${job.id.slice(0, 8)}`} user={props.user} csrfToken={props.csrfToken} current="/ui/apply-jobs"
      scripts={active ? [assetPath('live-log.js')] : []}>
      {props.notice && <Callout tone="info"><p>{props.notice}</p></Callout>}
      <dl class="facts">
        <dt>State</dt><dd><StateBadge state={job.state} /></dd>
        <dt>Branch</dt><dd>{job.branchName} <span class="muted">(#{job.branchId}, {job.branchSchemaId})</span></dd>
        <dt>Merged by</dt><dd>{job.username ?? '—'}</dd>
        <dt>Merged</dt><dd><Time at={job.mergedAt} /></dd>
        <dt>Started</dt><dd><Time at={job.startedAt} /></dd>
        <dt>Finished</dt><dd><Time at={job.finishedAt} /></dd>
        <dt>Workflow</dt><dd><code>{job.workflowId}</code> · <a href={temporalUrl}>Open the run in the Temporal UI</a></dd>
        {job.runUuid !== job.workflowId && <><dt>Run id</dt><dd><code>{job.runUuid}</code></dd></>}
        <dt>Source</dt><dd>{job.source}</dd>
      </dl>
      {job.error && <Callout tone="bad" title="The run failed as a whole"><p>{job.error}</p></Callout>}
      {trouble && (
        <Callout tone="warn" title="Temporal is retrying a step">
          <p>{trouble.activity}: attempt {trouble.attempt}{trouble.lastFailure ? `, last failure: ${trouble.lastFailure}` : ''}{trouble.nextAttemptAt ? `; next attempt at ${trouble.nextAttemptAt}` : ''}.</p>
        </Callout>
      )}
      {active && props.mayCancel && (
        <p><a class="button secondary" href={`${jobPath(job.id)}/cancel`}>Cancel this run…</a></p>
      )}
      <h2 id="results">Per-VM results</h2>
      <Table caption="One row per ChangeDiff of the branch" rows={results} empty={active ? 'No result yet.' : 'No result was recorded.'}
        columns={[
          { header: 'VM', cell: (r) => r.name ?? r.key },
          { header: 'VMID', cell: (r) => r.vmid ?? '—', numeric: true },
          { header: 'Operation', cell: (r) => `${r.op}${r.kind ? ` ${r.kind}` : ''}` },
          { header: 'Result', cell: (r) => <StateBadge state={r.status} /> },
          { header: 'Reason', cell: (r) => <Reason code={r.reason} /> },
          { header: 'Message', cell: (r) => <span>{r.message}{r.deletionRequestId !== null && <span> · <a href={`/ui/deletion-requests/${r.deletionRequestId}`}>deletion request #{r.deletionRequestId}</a></span>}</span> },
        ]} />
      <h2 id="drift">Drift</h2>
      {active ? <p class="muted">Drift is read back once the writes are done.</p>
        : drift.length === 0 ? <p>Everything converged: no drift.</p>
          : <Table caption="Fields that differ from the merged intent, per guest" rows={drift} empty=""
            columns={[{ header: 'Guest', cell: ([k]) => <code>{k}</code> }, { header: 'Difference', cell: ([, v]) => <code>{JSON.stringify(v)}</code> }]} />}
      {active && (
        <section aria-labelledby="live">
          <h2 id="live">Live log</h2>
          <p id="live-status" class="muted" role="status">The live log needs JavaScript; reload the page to see new results.</p>
          <pre id="live-log" class="log" data-events={`/api/v1/apply-jobs/${job.id}/events`} tabindex={0} aria-label="Live log"></pre>
        </section>
      )}
    </Layout>
  );
}

/** Cancel needs an explicit confirmation (a checkbox, so it works without JavaScript). */
export function CancelJobPage(props: { user: PageUser; csrfToken: string; job: JobRow; error?: string | undefined; refusal?: { code: string; detail: string } | undefined }) {
  const { job } = props;
  return (
    <Layout title={`Cancel apply job ${job.id.slice(0, 8)}?`} user={props.user} csrfToken={props.csrfToken} current="/ui/apply-jobs">
      {props.refusal && <RefusalCallout refusal={props.refusal} />}
      {props.error && <Callout tone="bad"><p>{props.error}</p></Callout>}
      <p>Branch <strong>{job.branchName}</strong>, merged by {job.username ?? '—'}, is <StateBadge state={job.state} />.</p>
      <Callout tone="warn">
        <p>Cancel is a graceful stop: nothing more is sent to proxbox-api; writes already sent are awaited and recorded; every VM not
          yet sent is recorded <code>cancelled</code>; the job ends <code>failed</code>. Pending deletion requests stay pending.</p>
      </Callout>
      <PostForm action={`${jobPath(job.id)}/cancel`} csrfToken={props.csrfToken} class="stack">
        <div>
          <input type="checkbox" id="confirm" name="confirm" value="yes" required />{' '}
          <label for="confirm">I want to cancel this run</label>
        </div>
        <div>
          <input type="checkbox" id="force" name="force" value="true" />{' '}
          <label for="force">Force: stop waiting for writes in flight (their VMs become unknown outcomes)</label>
        </div>
        <div><button type="submit" class="danger">Cancel the run</button> <a href={jobPath(job.id)}>Keep it running</a></div>
      </PostForm>
    </Layout>
  );
}
