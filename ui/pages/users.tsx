import type { SessionView } from '../../db/sessions';
import type { TokenView, UserView } from '../../db/users';
import { ALL_PERMISSIONS } from '../../domain/permissions';
import { tokenState } from '../../domain/user-admin';
import { StateBadge } from '../components/badge';
import { Callout, RefusalCallout } from '../components/callout';
import { CheckboxField, Field, PostForm } from '../components/form';
import { Layout } from '../components/layout';
import { Table, Time } from '../components/table';
import type { PageUser } from '../context';

type Refusal = { code: string; detail: string };
export const userPath = (username: string) => `/ui/users/${encodeURIComponent(username)}`;

/** One checkbox per permission; `prefix` keeps ids unique when two such groups share a page. */
function PermissionChecks(props: { prefix: string; held: readonly string[] }) {
  return (
    <fieldset>
      <legend>Permissions</legend>
      {ALL_PERMISSIONS.map((p) => <CheckboxField id={`${props.prefix}-${p}`} name="permissions" value={p} label={p} checked={props.held.includes(p)} />)}
    </fieldset>
  );
}

export function UsersPage(props: { user: PageUser; csrfToken: string; users: UserView[]; notice?: string | undefined; refusal?: Refusal | undefined;
  draft?: { username: string; permissions: string[] } }) {
  return (
    <Layout title="Users and tokens" user={props.user} csrfToken={props.csrfToken} current="/ui/users">
      {props.notice && <Callout tone="ok"><p>{props.notice}</p></Callout>}
      <Table caption="Users and their permissions" rows={props.users} empty="No user."
        columns={[
          { header: 'User', cell: (u) => <a href={userPath(u.username)}>{u.username}</a> },
          { header: 'Permissions', cell: (u) => u.permissions.length ? u.permissions.join(', ') : <span class="muted">none</span> },
          { header: 'Created', cell: (u) => <Time at={u.createdAt} /> },
        ]} />
      <h2 id="new-user">Add a user</h2>
      {props.refusal && <RefusalCallout refusal={props.refusal} title="The user was not added" />}
      <PostForm action="/ui/users" csrfToken={props.csrfToken} class="stack">
        <Field id="username" label="Username" value={props.draft?.username} required autocomplete="off" />
        <PermissionChecks prefix="new" held={props.draft?.permissions ?? []} />
        <div><button type="submit">Add the user</button></div>
      </PostForm>
    </Layout>
  );
}

export function UserPage(props: { user: PageUser; csrfToken: string; subject: UserView; tokens: TokenView[]; sessions: SessionView[];
  notice?: string | undefined; refusal?: Refusal | undefined }) {
  const { subject: u } = props;
  const base = userPath(u.username);
  return (
    <Layout title={`User ${u.username}`} user={props.user} csrfToken={props.csrfToken} current="/ui/users">
      {props.notice && <Callout tone="ok"><p>{props.notice}</p></Callout>}
      {props.refusal && <RefusalCallout refusal={props.refusal} title="Nothing was changed" />}
      <p><a href="/ui/users">All users</a></p>
      <h2 id="permissions">Permissions</h2>
      <PostForm action={`${base}/permissions`} csrfToken={props.csrfToken} class="stack">
        <PermissionChecks prefix="perm" held={u.permissions} />
        <div><button type="submit">Save the permissions</button></div>
      </PostForm>

      <h2 id="tokens">API tokens</h2>
      <Table caption={`Tokens of ${u.username} (the token itself is shown only once, when it is created)`} rows={props.tokens} empty="No token."
        columns={[
          { header: 'Id', cell: (t) => <code>{t.id}</code> },
          { header: 'Description', cell: (t) => t.description || <span class="muted">—</span> },
          { header: 'Issued by', cell: (t) => t.issuedBy },
          { header: 'Created', cell: (t) => <Time at={t.createdAt} /> },
          { header: 'Expires', cell: (t) => t.expiresAt ? <Time at={t.expiresAt} /> : 'never' },
          { header: 'Last used', cell: (t) => <Time at={t.lastUsedAt} /> },
          { header: 'State', cell: (t) => <StateBadge state={tokenState(t) === 'active' ? 'permitted' : tokenState(t)} /> },
          { header: 'Actions', cell: (t) => tokenState(t) === 'active' ? (
            <PostForm action={`${base}/tokens/${t.id}/revoke`} csrfToken={props.csrfToken} class="inline">
              <button type="submit" class="secondary" aria-label={`Revoke token ${t.id}`}>Revoke</button>
            </PostForm>
          ) : <span class="muted">—</span> },
        ]} />
      <h3 id="new-token">Create a token</h3>
      <PostForm action={`${base}/tokens`} csrfToken={props.csrfToken} class="stack">
        <Field id="description" label="Description" autocomplete="off" />
        <Field id="expiresOn" label="Expires on (UTC date)" type="date" hint="Empty: the settings' token lifetime (by default, no expiry)." />
        <div><button type="submit">Create the token</button></div>
      </PostForm>

      <h2 id="sessions">Sessions of the operator pages</h2>
      <Table caption={`Live sessions of ${u.username}`} rows={props.sessions} empty="No live session."
        columns={[
          { header: 'Signed in', cell: (s) => <Time at={s.createdAt} /> },
          { header: 'Last seen', cell: (s) => <Time at={s.lastSeenAt} /> },
          { header: 'Ends at the latest', cell: (s) => <Time at={s.expiresAt} /> },
        ]} />
      {props.sessions.length > 0 && (
        <PostForm action={`${base}/sessions/revoke`} csrfToken={props.csrfToken}>
          <button type="submit" class="secondary">End every session of {u.username}</button>
        </PostForm>
      )}

      <h2 id="remove">Remove this user</h2>
      <PostForm action={`${base}/delete`} csrfToken={props.csrfToken} class="stack">
        <CheckboxField id="confirm" label={`I want to remove ${u.username}, their tokens and sessions`} />
        <div><button type="submit" class="danger">Remove the user</button></div>
      </PostForm>
    </Layout>
  );
}

/** The one time a token is shown. */
export function TokenCreatedPage(props: { user: PageUser; csrfToken: string; subject: string; token: string; tokenView: TokenView }) {
  return (
    <Layout title="Token created" user={props.user} csrfToken={props.csrfToken} current="/ui/users">
      <Callout tone="warn" title="Copy this token now: it is shown only once.">
        <p>It is not stored anywhere in a form that can be shown again. Anyone holding it acts as {props.subject}.</p>
      </Callout>
      <p><label for="new-token-value">Token for {props.subject}</label></p>
      <p><output id="new-token-value" class="secret mono">{props.token}</output></p>
      <dl class="facts">
        <dt>Id</dt><dd><code>{props.tokenView.id}</code></dd>
        <dt>Expires</dt><dd>{props.tokenView.expiresAt ? <Time at={props.tokenView.expiresAt} /> : 'never'}</dd>
      </dl>
      <p><a href={userPath(props.subject)}>Back to {props.subject}</a></p>
    </Layout>
  );
}
