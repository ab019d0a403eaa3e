import type { ProxmoxEndpointRow } from '../../db/endpoints';
import { StateBadge } from '../components/badge';
import { Callout, RefusalCallout } from '../components/callout';
import { CheckboxField, Field, PostForm } from '../components/form';
import { Layout } from '../components/layout';
import { Table } from '../components/table';
import type { PageUser } from '../context';

export interface BackendFacts { url: string; timeoutMs: number; urlRefusal: string | null }
type Refusal = { code: string; detail: string };

export const endpointPath = (id: number) => `/ui/endpoints/${id}`;

/** The form's fields as typed (strings), shown again after a refusal. */
export interface EndpointFormValues { name: string; backendEndpointId: string; clusters: string; defaultBridge: string; allowWrites: boolean; isDefault: boolean }

export const endpointFormValues = (e: ProxmoxEndpointRow): EndpointFormValues => ({
  name: e.name, backendEndpointId: String(e.backendEndpointId), clusters: e.clusters.join(', '), defaultBridge: e.defaultBridge ?? '',
  allowWrites: e.allowWrites, isDefault: e.isDefault,
});

export function EndpointsPage(props: { user: PageUser; csrfToken: string; backend: BackendFacts | undefined; endpoints: ProxmoxEndpointRow[];
  mayChange: boolean; notice?: string | undefined; refusal?: Refusal | undefined; backendValues?: { url: string; timeoutMs: string } }) {
  const b = props.backend;
  const values = props.backendValues ?? { url: b?.url ?? '', timeoutMs: b ? String(b.timeoutMs) : '' };
  return (
    <Layout title="Endpoints and backend" user={props.user} csrfToken={props.csrfToken} current="/ui/endpoints">
      {props.notice && <Callout tone="ok"><p>{props.notice}</p></Callout>}
      {props.refusal && <RefusalCallout refusal={props.refusal} title="Nothing was changed" />}
      <h2 id="backend">proxbox-api backend</h2>
      {b ? (
        <dl class="facts" aria-labelledby="backend">
          <dt>URL</dt><dd><code>{b.url}</code></dd>
          <dt>API key</dt><dd>set</dd>
          <dt>Timeout</dt><dd>{b.timeoutMs} ms</dd>
        </dl>
      ) : <p>No FastAPIEndpoint is configured: API key not set. Every apply is blocked until one is.</p>}
      {b?.urlRefusal && <Callout tone="bad" title="The stored URL is refused"><p>{b.urlRefusal}. Nothing is sent there until the URL is set again.</p></Callout>}
      {props.mayChange && (
        <PostForm action="/ui/endpoints/backend" csrfToken={props.csrfToken} class="stack">
          <Field id="backend-url" name="url" label="Backend URL" type="url" value={values.url} required />
          <Field id="backend-apiKey" name="apiKey" label="API key" type="password" autocomplete="new-password"
            hint="Write-only: never shown. Leave empty to keep the stored key (a changed URL needs the key again)." />
          <Field id="backend-timeoutMs" name="timeoutMs" label="Timeout (ms)" type="number" value={values.timeoutMs} hint="100 to 600000; empty keeps the current one." />
          <div><button type="submit">Save the backend</button></div>
        </PostForm>
      )}
      <h2 id="endpoints">Proxmox endpoints</h2>
      <Table caption="Proxmox endpoints; writes reach an endpoint only when its allowWrites is on" rows={props.endpoints}
        empty="No Proxmox endpoint is configured: every VM is blocked."
        columns={[
          { header: 'Name', cell: (e) => props.mayChange ? <a href={`${endpointPath(e.id)}/edit`}>{e.name}</a> : e.name },
          { header: 'Backend endpoint id', cell: (e) => e.backendEndpointId, numeric: true },
          { header: 'Allow writes', cell: (e) => <StateBadge state={e.allowWrites ? 'permitted' : 'blocked'} /> },
          { header: 'Clusters', cell: (e) => e.clusters.join(', ') || <span class="muted">—</span> },
          { header: 'Default', cell: (e) => (e.isDefault ? 'yes' : 'no') },
          { header: 'Default bridge', cell: (e) => e.defaultBridge ? <code>{e.defaultBridge}</code> : <span class="muted">—</span> },
          ...(props.mayChange ? [{ header: 'Actions', cell: (e: ProxmoxEndpointRow) => (
            <div class="actions">
              <PostForm action={`${endpointPath(e.id)}/allow-writes`} csrfToken={props.csrfToken} class="inline">
                <input type="hidden" name="allowWrites" value={e.allowWrites ? 'off' : 'on'} />
                <button type="submit" class="secondary">{e.allowWrites ? `Block writes to ${e.name}` : `Allow writes to ${e.name}`}</button>
              </PostForm>
              <a href={`${endpointPath(e.id)}/edit`}>Edit {e.name}</a>
            </div>
          ) }] : []),
        ]} />
      {props.mayChange ? <p><a class="button secondary" href="/ui/endpoints/new">Add an endpoint…</a></p>
        : <p class="muted">Changing the backend or the endpoints needs the manage_settings permission.</p>}
    </Layout>
  );
}

/** Create (no `endpoint`) or edit one endpoint, with its delete form. */
export function EndpointFormPage(props: { user: PageUser; csrfToken: string; endpoint?: ProxmoxEndpointRow; values: EndpointFormValues;
  refusal?: Refusal | undefined }) {
  const { endpoint: e, values: v } = props;
  const title = e ? `Endpoint ${e.name}` : 'Add a Proxmox endpoint';
  return (
    <Layout title={title} user={props.user} csrfToken={props.csrfToken} current="/ui/endpoints">
      {props.refusal && <RefusalCallout refusal={props.refusal} title="Nothing was changed" />}
      <PostForm action={e ? endpointPath(e.id) : '/ui/endpoints'} csrfToken={props.csrfToken} class="stack">
        <Field id="name" label="Name" value={v.name} required />
        <Field id="backendEndpointId" label="proxbox-api endpoint id" value={v.backendEndpointId} inputmode="numeric" required />
        <Field id="clusters" label="Clusters" value={v.clusters} hint="Cluster names, separated by commas." />
        <Field id="defaultBridge" label="Default bridge" value={v.defaultBridge} hint="For NICs that name no bridge, for example vmbr0; empty for none." />
        <CheckboxField id="allowWrites" label="Allow writes (allow_writes)" checked={v.allowWrites} hint="Enable only on endpoints that may receive intent writes." />
        <CheckboxField id="isDefault" label="Default endpoint" checked={v.isDefault} />
        <div><button type="submit">{e ? 'Save the endpoint' : 'Add the endpoint'}</button> <a href="/ui/endpoints">Back to the endpoints</a></div>
      </PostForm>
      {e && (
        <section aria-labelledby="remove">
          <h2 id="remove">Remove this endpoint</h2>
          <PostForm action={`${endpointPath(e.id)}/delete`} csrfToken={props.csrfToken} class="stack">
            <CheckboxField id="confirm" label={`I want to remove endpoint ${e.name}`} />
            <div><button type="submit" class="danger">Remove the endpoint</button></div>
          </PostForm>
        </section>
      )}
    </Layout>
  );
}
