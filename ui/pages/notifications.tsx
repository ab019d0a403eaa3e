import type { DeliveryRow } from '../../db/deliveries';
import type { DestinationView } from '../../db/notifications';
import { NOTIFICATION_EVENT_TYPES } from '../../domain/notifications';
import { StateBadge } from '../components/badge';
import { Callout, RefusalCallout } from '../components/callout';
import { CheckboxField, Field, PostForm, SelectField } from '../components/form';
import { Layout } from '../components/layout';
import { Table, Time } from '../components/table';
import type { PageUser } from '../context';

type Refusal = { code: string; detail: string };

/** The add form's fields as typed, shown again after a refusal (never the secret). */
export interface DestinationFormValues { name: string; kind: string; url: string; events: string[] }
export const EMPTY_DESTINATION_FORM: DestinationFormValues = { name: '', kind: 'webhook', url: '', events: [] };

/** A delivery as the page lists it: the event's type and id read from the row (never its body). */
export interface DeliveryLine { row: DeliveryRow; destination: string; event: string }

export function NotificationsPage(props: { user: PageUser; csrfToken: string; destinations: DestinationView[]; deliveries: DeliveryLine[];
  values?: DestinationFormValues; refusal?: Refusal | undefined; notice?: string | undefined }) {
  const v = props.values ?? EMPTY_DESTINATION_FORM;
  return (
    <Layout title="Notifications" user={props.user} csrfToken={props.csrfToken} current="/ui/notifications">
      {props.notice && <Callout tone="ok"><p>{props.notice}</p></Callout>}
      {props.refusal && <RefusalCallout refusal={props.refusal} title="Nothing was changed" />}
      <h2 id="destinations">Destinations</h2>
      <Table caption="Where notifications go; secrets and Slack URLs are never shown" rows={props.destinations}
        empty="No notification destination: nothing is sent."
        columns={[
          { header: 'Name', cell: (d) => d.name },
          { header: 'Kind', cell: (d) => (d.kind === 'webhook' ? 'signed webhook' : 'Slack') },
          { header: 'URL', cell: (d) => <code>{d.url}</code> },
          { header: 'Events', cell: (d) => d.events.join(', ') },
          { header: 'Enabled', cell: (d) => (d.enabled ? 'yes' : 'no: nothing is sent') },
          { header: 'Actions', cell: (d) => (
            <div class="actions">
              <PostForm action={`/ui/notifications/${d.id}/test`} csrfToken={props.csrfToken} class="inline">
                <button type="submit" class="secondary">Send a test to {d.name}</button>
              </PostForm>
              <PostForm action={`/ui/notifications/${d.id}/delete`} csrfToken={props.csrfToken} class="inline">
                <CheckboxField id={`confirm-${d.id}`} name="confirm" label={`I want to remove ${d.name}`} />
                <button type="submit" class="danger">Remove {d.name}</button>
              </PostForm>
            </div>
          ) },
        ]} />
      <h2 id="add">Add a destination</h2>
      <PostForm action="/ui/notifications" csrfToken={props.csrfToken} class="stack">
        <Field id="name" label="Name" value={v.name} required />
        <SelectField id="kind" label="Kind" value={v.kind}
          options={[{ value: 'webhook', label: 'Signed webhook (JSON, HMAC-SHA256)' }, { value: 'slack', label: 'Slack-compatible incoming webhook' }]} />
        <Field id="url" label="URL" type="url" value={v.url} required hint="https (http only with NOTIFICATIONS_ALLOW_HTTP); a Slack URL is never shown again." />
        <Field id="secret" label="Signing secret (webhooks)" type="password" autocomplete="new-password"
          hint="At least 16 characters; receivers verify X-Proxbox-Intent-Signature with it. Never shown again. Leave empty for Slack." />
        <fieldset>
          <legend>Events</legend>
          {NOTIFICATION_EVENT_TYPES.map((e) => <CheckboxField id={`event-${e}`} name="events" value={e} label={e} checked={v.events.includes(e)} />)}
        </fieldset>
        <div><button type="submit">Add the destination</button></div>
      </PostForm>
      <h2 id="deliveries">Recent deliveries</h2>
      <Table caption="The latest notification deliveries, newest first" rows={props.deliveries} empty="Nothing has been sent yet."
        columns={[
          { header: 'When', cell: (l) => <Time at={l.row.createdAt} /> },
          { header: 'Destination', cell: (l) => l.destination },
          { header: 'Event', cell: (l) => l.event },
          { header: 'About', cell: (l) => `${l.row.subjectType.replace('_', ' ')} ${l.row.subjectId}` },
          { header: 'Status', cell: (l) => <StateBadge state={l.row.status === 'delivered' ? 'succeeded' : l.row.status} /> },
          { header: 'Attempts', cell: (l) => l.row.attempts, numeric: true },
          { header: 'Last error', cell: (l) => l.row.lastError ?? <span class="muted">—</span> },
        ]} />
    </Layout>
  );
}
