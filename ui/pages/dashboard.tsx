import type { JobRow } from '../../db/apply-jobs';
import type { DeletionRow } from '../../db/deletion-requests';
import { StateBadge } from '../components/badge';
import { Callout } from '../components/callout';
import { Layout } from '../components/layout';
import { Table, Time } from '../components/table';
import type { PageUser } from '../context';
import { JobLink } from './apply-jobs';

export interface DashboardData {
  running: JobRow[];
  /** Pending deletion requests this user may decide: not their own; null when they may not decide any. */
  awaitingMe: DeletionRow[] | null;
  recentFailures: JobRow[];
}

export function DashboardPage(props: { user: PageUser; csrfToken: string; data: DashboardData }) {
  const { data } = props;
  return (
    <Layout title="Dashboard" user={props.user} csrfToken={props.csrfToken} current="/ui/dashboard">
      <h2 id="running">Running jobs</h2>
      <Table caption="Queued and running apply jobs" rows={data.running} empty="No apply job is running."
        columns={[
          { header: 'Job', cell: (j) => <JobLink job={j} /> },
          { header: 'Branch', cell: (j) => j.branchName ?? `#${j.branchId}` },
          { header: 'User', cell: (j) => j.username ?? '—' },
          { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
          { header: 'Started', cell: (j) => <Time at={j.startedAt ?? j.createdAt} /> },
        ]} />
      <h2 id="awaiting">Deletions awaiting you</h2>
      {data.awaitingMe === null
        ? <Callout tone="info"><p>You do not hold <code>authorize_deletion_request</code>, so no deletion awaits your decision.</p></Callout>
        : <Table caption="Pending deletion requests made by someone else" rows={data.awaitingMe} empty="No pending deletion request awaits you."
          columns={[
            { header: 'Request', cell: (d) => <a href={`/ui/deletion-requests/${d.id}`}>#{d.id}</a> },
            { header: 'Guest', cell: (d) => <span>{d.name ?? '?'} <span class="muted">({d.kind} {d.vmid} on {d.node})</span></span> },
            { header: 'Requested by', cell: (d) => d.requestedBy },
            { header: 'Expires', cell: (d) => <Time at={d.expiresAt} /> },
          ]} />}
      <h2 id="failures">Recent failures</h2>
      <Table caption="The latest failed or partial apply jobs" rows={data.recentFailures} empty="No recent failure."
        columns={[
          { header: 'Job', cell: (j) => <JobLink job={j} /> },
          { header: 'Branch', cell: (j) => j.branchName ?? `#${j.branchId}` },
          { header: 'User', cell: (j) => j.username ?? '—' },
          { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
          { header: 'Finished', cell: (j) => <Time at={j.finishedAt} /> },
          { header: 'Error', cell: (j) => j.error ?? '' },
        ]} />
    </Layout>
  );
}
