import type { MergeValidation, ValidationVerdictView } from '../../domain/merge-validation';
import { StateBadge } from '../components/badge';
import { Callout, Reason, RefusalCallout } from '../components/callout';
import { Field } from '../components/form';
import { Layout } from '../components/layout';
import { Table } from '../components/table';
import type { PageUser } from '../context';

/** The plan page of a branch (`actor` kept): where NetBox links (a custom link on the branch) and the API sends browsers. */
export function planPagePath(branchId: number | string, actor?: string | null): string {
  return `/ui/branches/${branchId}/plan${actor ? `?${new URLSearchParams({ actor })}` : ''}`;
}

const yesNo = (on: boolean) => <strong>{on ? 'yes' : 'no'}</strong>;

/** Finds a branch's plan by its id (the form of /ui/plans; a GET, so it works as a bookmark). */
export function PlanFormPage(props: { user: PageUser; csrfToken: string; branchId?: string | undefined; actor?: string | undefined;
  refusal?: { code: string; detail: string } | undefined }) {
  return (
    <Layout title="Plans" user={props.user} csrfToken={props.csrfToken} current="/ui/plans">
      <p>The read-only plan of a NetBox branch: what the merge validator would answer now, one row per ChangeDiff.
        Nothing in NetBox or Proxmox changes.</p>
      {props.refusal && <RefusalCallout refusal={props.refusal} title="No plan for this branch id" />}
      <form method="get" action="/ui/plans" class="stack" aria-label="Open the plan of a branch">
        <Field id="branchId" label="Branch id" value={props.branchId} inputmode="numeric" required
          hint="The NetBox branch's numeric id (its pk, as in /plugins/branching/branches/<id>/)." />
        <Field id="actor" label="Check permissions of (optional)" value={props.actor}
          hint="A username: the plan then checks that user's intent permissions per VM, as for a merge by them." />
        <div><button type="submit">Show the plan</button></div>
      </form>
    </Layout>
  );
}

function FindingList(props: { findings: ValidationVerdictView['findings'] }) {
  if (props.findings.length === 0) return null;
  return <ul>{props.findings.map((f) => <li>{f.severity} · {f.check} · <code>{f.reason}</code>: {f.message}</li>)}</ul>;
}

/** The guide's plan summary page: branch, settings state, opt-in, one row per ChangeDiff, the verdict banner. */
export function PlanPage(props: { user: PageUser; csrfToken: string; plan: MergeValidation }) {
  const p = props.plan;
  const diffOf = (v: ValidationVerdictView) => p.diffs.find((d) => d.netboxId === v.netboxId);
  return (
    <Layout title={`Plan of branch ${p.branch.name ?? `#${p.branch.id}`}`} user={props.user} csrfToken={props.csrfToken} current="/ui/plans">
      <Callout tone={p.permitted ? 'ok' : 'bad'} title={p.permitted ? 'Merge permitted' : 'Merge blocked'}>
        <p>{p.message}</p>
      </Callout>
      {p.unavailable && <Callout tone="warn"><p>The plan failed closed: {p.unavailable.system} — {p.unavailable.detail}</p></Callout>}
      <dl class="facts">
        <dt>Branch</dt><dd>{p.branch.name ?? '?'} <span class="muted">#{p.branch.id} · schema {p.branch.schemaId ?? '?'} · {p.branch.status ?? '?'}</span></dd>
        <dt>Intent enabled</dt><dd>{yesNo(p.settings.enabled)} <span class="muted">(the master flag)</span></dd>
        <dt>Opted in</dt><dd>{yesNo(p.settings.optedIn)} <span class="muted">(<code>apply_to_proxmox</code>)</span></dd>
        <dt>Destroy confirmed</dt><dd>{yesNo(p.settings.destroyConfirmed)} <span class="muted">(<code>apply_destroy_confirmed</code>)</span></dd>
        <dt>Permissions</dt><dd>{p.rbacChecked ? <span>checked for <strong>{p.actor}</strong></span> : 'not checked (no actor; add ?actor=<username>)'}</dd>
        <dt>Summary</dt><dd>{p.summary}</dd>
      </dl>
      <Table caption="One row per ChangeDiff of the branch" rows={p.verdicts} empty="The branch changes no VirtualMachine."
        columns={[
          { header: 'ChangeDiff', cell: (v) => { const d = diffOf(v); return d ? <span class="mono">#{d.changeDiffId}</span> : '—'; }, numeric: true },
          { header: 'VM', cell: (v) => v.name },
          { header: 'Operation', cell: (v) => v.op },
          { header: 'Kind', cell: (v) => v.kind },
          { header: 'VMID', cell: (v) => v.vmid ?? '—', numeric: true },
          { header: 'Node', cell: (v) => diffOf(v)?.node ?? '—' },
          { header: 'Endpoint', cell: (v) => diffOf(v)?.endpoint ?? '—' },
          { header: 'Verdict', cell: (v) => <span><StateBadge state={v.verdict} />{v.backend && <span class="muted"> proxbox-api: {v.backend.verdict}</span>}</span> },
          { header: 'Why', cell: (v) => (
            <div>
              <p><Reason code={v.reason} /></p>
              <p>{v.message}</p>
              {/* The verdict's message is its first finding's; the others follow. */}
              <FindingList findings={v.findings.filter((f) => f.message !== v.message)} />
            </div>
          ) },
        ]} />
      <p class="muted">Read-only: this page never changes NetBox or Proxmox. Checks in order: {p.checks.join(' → ')}.</p>
    </Layout>
  );
}
