import type { ServiceStatus } from '../../domain/service-status';
import { StateBadge } from '../components/badge';
import { Callout } from '../components/callout';
import { Layout } from '../components/layout';
import { Table } from '../components/table';
import type { PageUser } from '../context';

const answers = (yes: boolean) => <StateBadge state={yes ? 'succeeded' : 'failed'} />;
const maybe = (v: boolean | null | undefined) => (v === null || v === undefined ? 'unknown' : v ? 'yes' : 'no');

/** GET /api/v1/status as a page: the problems first, in the guide's words, then the facts behind them. */
export function StatusPage(props: { user: PageUser; csrfToken: string; status: ServiceStatus }) {
  const { status: s } = props;
  const caps = s.proxboxApi.capabilities;
  return (
    <Layout title="Status" user={props.user} csrfToken={props.csrfToken} current="/ui/status">
      <p>Overall: <StateBadge state={s.status === 'ok' ? 'succeeded' : 'partial'} /> <span class="muted">checked {s.checkedAt}, version {s.version}</span></p>
      {s.problems.length === 0 ? <Callout tone="ok"><p>No problem found.</p></Callout> : (
        <Callout tone="warn" title={`${s.problems.length} problem(s)`}>
          <ul>{s.problems.map((p) => <li><code>{p.code}</code>: {p.message}</li>)}</ul>
        </Callout>
      )}
      <h2 id="worker">Temporal and the worker</h2>
      <dl class="facts" aria-labelledby="worker">
        <dt>Temporal answers</dt><dd>{answers(s.temporal.reachable)}{s.temporal.error && <span class="muted"> {s.temporal.error}</span>}</dd>
        <dt>A worker polls</dt><dd>{s.temporal.workerPolling ? 'yes' : 'no'} <span class="muted">(within {s.temporal.pollerWindowS} s)</span></dd>
        <dt>Task queue</dt><dd><code>{s.temporal.taskQueue}</code> in <code>{s.temporal.namespace}</code> · <a href={s.temporal.taskQueueUrl}>its pollers in the Temporal UI</a></dd>
        {s.temporal.pollers && <><dt>Pollers</dt><dd>workflow {s.temporal.pollers.workflow.recentPollers}, activity {s.temporal.pollers.activity.recentPollers}</dd></>}
      </dl>
      <h2 id="netbox">NetBox</h2>
      <dl class="facts" aria-labelledby="netbox">
        <dt>Configured</dt><dd>{s.netbox.configured ? 'yes' : 'no'}</dd>
        <dt>Answers</dt><dd>{answers(s.netbox.reachable)}{s.netbox.error && <span class="muted"> {s.netbox.error}</span>}</dd>
        <dt>Version</dt><dd>{s.netbox.version ?? '—'}</dd>
        <dt>netbox-branching</dt><dd>{maybe(s.netbox.branchingInstalled)}</dd>
      </dl>
      <h2 id="proxbox">proxbox-api</h2>
      <dl class="facts" aria-labelledby="proxbox">
        <dt>Configured</dt><dd>{s.proxboxApi.configured ? 'yes' : 'no'}</dd>
        <dt>Answers</dt><dd>{answers(s.proxboxApi.reachable)}{s.proxboxApi.error && <span class="muted"> {s.proxboxApi.error}</span>}</dd>
        <dt>Register deletions</dt><dd>{maybe(caps?.registerDeletion)}</dd>
        <dt>Task status</dt><dd>{maybe(caps?.taskStatus)}</dd>
        <dt>LXC config proxy</dt><dd>{maybe(caps?.lxcConfigProxy)}</dd>
        <dt>Guest status proxy</dt><dd>{maybe(caps?.guestStatusProxy)}</dd>
      </dl>
      <h2 id="intent">Intent settings</h2>
      <dl class="facts" aria-labelledby="intent">
        <dt>Master flag</dt><dd>{s.intent.masterFlag ? 'on' : 'off'}</dd>
        <dt>Self-approval allowed</dt><dd>{s.intent.selfApproveAllowed ? 'yes' : 'no'}</dd>
        <dt>Deletion request TTL</dt><dd>{s.intent.deletionRequestTtlDays} days</dd>
      </dl>
      <h2 id="gates">Endpoints' write gates</h2>
      {s.endpoints.unprobedReason && <p class="muted">proxbox-api was not asked about the endpoints: {s.endpoints.unprobedReason}</p>}
      <Table caption={`${s.endpoints.writable} of ${s.endpoints.count} endpoint(s) take writes (both sides allow them)`} rows={s.endpoints.items}
        empty="No Proxmox endpoint is configured."
        columns={[
          { header: 'Endpoint', cell: (e) => e.name },
          { header: 'Ours: allowWrites', cell: (e) => (e.allowWrites ? 'yes' : 'no') },
          { header: 'proxbox-api', cell: (e) => e.backend === null ? 'not asked' : e.backend.error ?? (!e.backend.found ? 'unknown endpoint'
            : `enabled ${maybe(e.backend.enabled)}, allow_writes ${maybe(e.backend.allowWrites)}`) },
          { header: 'Writes possible', cell: (e) => <StateBadge state={e.writesPossible ? 'permitted' : 'blocked'} /> },
        ]} />
    </Layout>
  );
}
