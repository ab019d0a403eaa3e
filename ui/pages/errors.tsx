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
