import { Callout } from '../components/callout';
import { Layout } from '../components/layout';
import type { PageUser } from '../context';

/** A refusal page (403, 404, 429, a CSRF refusal): says why, in plain words, and that nothing changed. */
export function ErrorPage(props: { title: string; message: string; user?: PageUser | undefined; csrfToken?: string | undefined; code?: string }) {
  return (
    <Layout title={props.title} user={props.user} csrfToken={props.csrfToken}>
      <Callout tone="bad">
        <p>{props.message}</p>
        {props.code && <p class="muted">Code: <code>{props.code}</code></p>}
      </Callout>
      <p><a href="/ui/dashboard">Back to the dashboard</a></p>
    </Layout>
  );
}

/** A page of the navigation that phase 2 has not built yet: points to the API route that serves the same data. */
export function NotBuiltPage(props: { title: string; apiPath: string; user: PageUser; csrfToken: string; current: string }) {
  return (
    <Layout title={props.title} user={props.user} csrfToken={props.csrfToken} current={props.current}>
      <Callout tone="info">
        <p>This page is not built yet. The API serves the same data: <code>{props.apiPath}</code> (see <a href="/docs">the API reference</a>).</p>
      </Callout>
    </Layout>
  );
}
