import type { AuditRow } from '../../db/audit-log';
import { Field, FilterForm } from '../components/form';
import { Layout } from '../components/layout';
import { Pagination, Table, Time } from '../components/table';
import type { PageUser } from '../context';

export interface AuditFilterForm { actor?: string | undefined; action?: string | undefined; since?: string | undefined }

/** The audit log as the API answers it: `changes` were masked when written (domain/audit.ts), shown as they are. */
export function AuditLogPage(props: { user: PageUser; csrfToken: string; filter: AuditFilterForm; rows: AuditRow[]; nextCursor: string | null;
  isFirst: boolean; refusal?: { code: string; detail: string } | undefined }) {
  const { filter } = props;
  return (
    <Layout title="Audit log" user={props.user} csrfToken={props.csrfToken} current="/ui/audit-log">
      <FilterForm action="/ui/audit-log" label="Filter the audit log" refusal={props.refusal}>
        <Field id="actor" label="Actor" value={filter.actor} />
        <Field id="action" label="Action or area" value={filter.action} hint="token.create, or token" />
        <Field id="since" label="Since" value={filter.since} hint="2026-01-31T00:00:00Z" />
      </FilterForm>
      <Table caption="Administrative changes, newest first (secrets masked)" rows={props.rows} empty="No audit entry matches."
        columns={[
          { header: 'At', cell: (r) => <Time at={r.at} /> },
          { header: 'Actor', cell: (r) => r.actor },
          { header: 'Action', cell: (r) => <code>{r.action}</code> },
          { header: 'Target', cell: (r) => <code>{r.target}</code> },
          { header: 'Changes', cell: (r) => Object.keys(r.changes).length ? <code class="changes">{JSON.stringify(r.changes)}</code> : <span class="muted">—</span> },
        ]} />
      <Pagination basePath="/ui/audit-log" query={{ actor: filter.actor, action: filter.action, since: filter.since }} nextCursor={props.nextCursor} isFirst={props.isFirst} />
    </Layout>
  );
}
