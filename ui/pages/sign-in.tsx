import { Callout } from '../components/callout';
import { Field } from '../components/form';
import { Layout } from '../components/layout';

/**
 * Sign-in with a username and one of the user's API tokens (the same check as the API's Bearer authentication).
 * No CSRF token exists before a session; the form is protected by the same-origin check (ui/csrf.ts).
 */
export function SignInPage(props: { next: string; username?: string; error?: string; notice?: string }) {
  return (
    <Layout title="Sign in">
      <div class="signin">
        {props.error && <Callout tone="bad"><p>{props.error}</p></Callout>}
        {props.notice && <Callout tone="info"><p>{props.notice}</p></Callout>}
        <form method="post" action="/ui/sign-in" class="stack">
          <input type="hidden" name="next" value={props.next} />
          <Field id="username" label="Username" value={props.username} required autocomplete="username" />
          <Field id="token" label="API token" type="password" required autocomplete="current-password"
            hint="One of your API tokens (pbi_…), as issued by an administrator or the CLI. It is checked, never stored in the browser." />
          <div><button type="submit">Sign in</button></div>
        </form>
      </div>
    </Layout>
  );
}
