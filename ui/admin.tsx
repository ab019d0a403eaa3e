import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { AuditLog } from '../db/audit-log';
import type { DeliveryStore } from '../db/deliveries';
import type { NotificationDestinationStore } from '../db/notifications';
import { NotificationDestinationInput, NotificationEvent } from '../domain/notifications';
import type { EndpointStore } from '../db/endpoints';
import type { SessionStore } from '../db/sessions';
import type { SettingsStore } from '../db/settings';
import type { UserStore } from '../db/users';
import { AuditFilterFields } from '../domain/audit';
import { BackendInput, EndpointInput, EndpointPatch, NAME_TAKEN, NO_ENDPOINT } from '../domain/endpoint-config';
import { hasPermission } from '../domain/permissions';
import { SettingsChange } from '../domain/settings';
import { NO_SUCH_USER, NewToken, NewUser, UserPatch, userExists } from '../domain/user-admin';
import { Username } from '../domain/usernames';
import type { ServiceStatusService } from '../services/service-status';
import { decodeCursor, encodeCursor } from '../api/pagination';
import { ProblemError, validationRefusal } from '../api/problem';
import { refusalStatus } from '../api/refusal-status';
import { pageActor, type UiEnv } from './context';
import { AuditLogPage } from './pages/audit-log';
import { EndpointFormPage, EndpointsPage, endpointFormValues, type EndpointFormValues } from './pages/endpoints';
import { NotificationsPage, type DestinationFormValues } from './pages/notifications';
import { SettingsPage, type SettingsFormValues } from './pages/settings';
import { StatusPage } from './pages/status';
import { TokenCreatedPage, UserPage, UsersPage, userPath } from './pages/users';
import { pagePermission, refusePage, render } from './render';

/** What the administrators' pages read and change: the API's own stores and services. */
export interface AdminDeps {
  users: UserStore;
  sessions: SessionStore;
  settings: SettingsStore;
  endpoints: EndpointStore;
  audit: AuditLog;
  status: ServiceStatusService;
  destinations: NotificationDestinationStore;
  deliveries: DeliveryStore;
}

type Refusal = { code: string; detail: string };
const AUDIT_PAGE_SIZE = 50;
const EndpointId = z.coerce.number().int().positive();
const TokenId = z.uuid();
const AuditFilter = z.object(AuditFilterFields);

/** A posted form: text fields trimmed, ticked checkboxes as `on`, repeated names (the permission checkboxes) as lists. */
async function formOf(c: Context<UiEnv>) {
  const body = await c.req.parseBody({ all: true });
  const values = (name: string) => [body[name]].flat().filter((v): v is string => typeof v === 'string');
  return {
    text: (name: string) => values(name)[0]?.trim() ?? '',
    all: values,
    ticked: (name: string) => values(name)[0] === 'on',
  };
}

/** A whole number as a number; anything else stays text, so the shared schema names the field in its refusal. */
const numberOrText = (s: string): number | string => (/^-?\d+$/.test(s) ? Number(s) : s);
const mayChangeSettings = (c: Context<UiEnv>) => hasPermission(c.get('user').permissions, 'manage_settings');

/**
 * Settings, endpoints and backend, users and tokens, the audit log and the status page. Each page needs the API
 * route's permission and each change calls the store the route calls (which writes the audit row); on success a 303
 * back to the page, otherwise the page again with the refusal in the API's words and the API's status.
 */
export function adminPages(ui: Hono<UiEnv>, deps: AdminDeps): void {
  const page = { user: (c: Context<UiEnv>) => c.get('user'), csrf: (c: Context<UiEnv>) => c.get('csrfToken') };

  // Settings: `view` reads, `manage_settings` changes (PUT /api/v1/settings).
  const settingsPage = async (c: Context<UiEnv>, extra: { refusal?: Refusal; values?: SettingsFormValues; status?: ContentfulStatusCode } = {}) =>
    render(c, <SettingsPage user={page.user(c)} csrfToken={page.csrf(c)} settings={await deps.settings.get()} mayChange={mayChangeSettings(c)}
      refusal={extra.refusal} notice={c.req.query('saved') ? 'The settings are saved.' : undefined} {...(extra.values ? { values: extra.values } : {})} />,
    extra.status ?? 200);
  ui.get('/settings', pagePermission('view'), (c) => settingsPage(c));
  ui.post('/settings', pagePermission('manage_settings'), async (c) => {
    const f = await formOf(c);
    const values: SettingsFormValues = {
      netboxToProxmoxEnabled: f.ticked('netboxToProxmoxEnabled'), selfApproveAllowed: f.ticked('selfApproveAllowed'),
      warnPlaintextPassword: f.ticked('warnPlaintextPassword'), deletionRequestTtlDays: f.text('deletionRequestTtlDays'), tokenLifetimeDays: f.text('tokenLifetimeDays'),
      deletionReminderLeadHours: f.text('deletionReminderLeadHours'),
    };
    const parsed = SettingsChange.safeParse({
      netboxToProxmoxEnabled: values.netboxToProxmoxEnabled, selfApproveAllowed: values.selfApproveAllowed, warnPlaintextPassword: values.warnPlaintextPassword,
      deletionRequestTtlDays: numberOrText(values.deletionRequestTtlDays),
      ...(values.deletionReminderLeadHours ? { deletionReminderLeadHours: numberOrText(values.deletionReminderLeadHours) } : {}),
      tokenLifetimeDays: values.tokenLifetimeDays === '' ? null : numberOrText(values.tokenLifetimeDays),
      ...(f.text('typedConfirmation') ? { typedConfirmation: f.text('typedConfirmation') } : {}),
      ...(f.text('selfApprovalConfirmation') ? { selfApprovalConfirmation: f.text('selfApprovalConfirmation') } : {}),
    });
    if (!parsed.success) return settingsPage(c, { refusal: validationRefusal(parsed.error, 'form'), values, status: 422 });
    const decision = await deps.settings.update(parsed.data, pageActor(page.user(c)));
    if (!decision.ok) return settingsPage(c, { refusal: decision, values, status: refusalStatus(decision.code) });
    return c.redirect('/ui/settings?saved=1', 303);
  });

  // Notifications: `manage_settings` reads and changes (/api/v1/notification-destinations).
  const notificationsPage = async (c: Context<UiEnv>, extra: { refusal?: Refusal; values?: DestinationFormValues; status?: ContentfulStatusCode } = {}) => {
    const [destinations, recent] = await Promise.all([deps.destinations.list(), deps.deliveries.recentNotifications(50)]);
    const names = new Map(destinations.map((d) => [d.id, d.name]));
    const deliveries = recent.map((row) => {
      const event = NotificationEvent.safeParse(row.event);
      return { row, destination: row.destinationId === null ? '(removed)' : names.get(row.destinationId) ?? '(removed)', event: event.success ? event.data.type : '?' };
    });
    const changed = c.req.query('changed');
    return render(c, <NotificationsPage user={page.user(c)} csrfToken={page.csrf(c)} destinations={destinations} deliveries={deliveries}
      refusal={extra.refusal} notice={changed ? `Done: ${changed}.` : undefined} {...(extra.values ? { values: extra.values } : {})} />, extra.status ?? 200);
  };
  const destinationId = (c: Context<UiEnv>) => EndpointId.safeParse(c.req.param('id')).data;
  const noDestination = (c: Context<UiEnv>) => notificationsPage(c, { refusal: { code: 'not_found', detail: 'No notification destination with this id.' }, status: 404 });
  ui.get('/notifications', pagePermission('manage_settings'), (c) => notificationsPage(c));
  ui.post('/notifications', pagePermission('manage_settings'), async (c) => {
    const f = await formOf(c);
    const values: DestinationFormValues = { name: f.text('name'), kind: f.text('kind'), url: f.text('url'), events: f.all('events') };
    const parsed = NotificationDestinationInput.safeParse({ ...values, ...(f.text('secret') ? { secret: f.text('secret') } : {}) });
    if (!parsed.success) return notificationsPage(c, { refusal: validationRefusal(parsed.error, 'form'), values, status: 422 });
    const made = await deps.destinations.create(parsed.data, pageActor(page.user(c)));
    if ('code' in made) return notificationsPage(c, { refusal: made, values, status: made.code === 'name_taken' ? 409 : 422 });
    return c.redirect(`/ui/notifications?changed=${encodeURIComponent(`${made.name} added`)}`, 303);
  });
  ui.post('/notifications/:id/test', pagePermission('manage_settings'), async (c) => {
    const id = destinationId(c);
    const sent = id === undefined ? undefined : await deps.destinations.sendTest(id, pageActor(page.user(c)));
    if (!sent) return noDestination(c);
    return c.redirect(`/ui/notifications?changed=${encodeURIComponent('a test is on its way')}`, 303);
  });
  ui.post('/notifications/:id/delete', pagePermission('manage_settings'), async (c) => {
    const id = destinationId(c);
    if (id === undefined) return noDestination(c);
    if (!(await formOf(c)).ticked('confirm')) {
      return notificationsPage(c, { refusal: { code: 'confirmation_required', detail: 'Tick the confirmation to remove the destination.' }, status: 422 });
    }
    if (!(await deps.destinations.delete(id, pageActor(page.user(c))))) return noDestination(c);
    return c.redirect(`/ui/notifications?changed=${encodeURIComponent('the destination removed')}`, 303);
  });

  // Endpoints and backend: `view` reads, `manage_settings` changes (/api/v1/backend, /api/v1/proxmox-endpoints).
  const endpointsPage = async (c: Context<UiEnv>, extra: { refusal?: Refusal; status?: ContentfulStatusCode; backendValues?: { url: string; timeoutMs: string } } = {}) => {
    const [backend, endpoints] = await Promise.all([deps.endpoints.describeBackend(), deps.endpoints.list()]);
    const changed = c.req.query('changed');
    return render(c, <EndpointsPage user={page.user(c)} csrfToken={page.csrf(c)} backend={backend} endpoints={endpoints} mayChange={mayChangeSettings(c)}
      refusal={extra.refusal} notice={changed ? `Saved: ${changed}.` : undefined} {...(extra.backendValues ? { backendValues: extra.backendValues } : {})} />,
    extra.status ?? 200);
  };
  const manage = pagePermission('manage_settings');
  ui.get('/endpoints', pagePermission('view'), (c) => endpointsPage(c));
  ui.post('/endpoints/backend', manage, async (c) => {
    const f = await formOf(c);
    const backendValues = { url: f.text('url'), timeoutMs: f.text('timeoutMs') };
    const parsed = BackendInput.safeParse({
      url: backendValues.url, ...(f.text('apiKey') ? { apiKey: f.text('apiKey') } : {}),
      ...(backendValues.timeoutMs ? { timeoutMs: numberOrText(backendValues.timeoutMs) } : {}),
    });
    if (!parsed.success) return endpointsPage(c, { refusal: validationRefusal(parsed.error, 'backend form'), status: 422, backendValues });
    const saved = await deps.endpoints.putBackend(parsed.data, pageActor(page.user(c)));
    if ('code' in saved) return endpointsPage(c, { refusal: saved, status: 422, backendValues });
    return c.redirect(`/ui/endpoints?changed=${encodeURIComponent('the backend')}`, 303);
  });

  const endpointInput = (f: Awaited<ReturnType<typeof formOf>>) => {
    const values: EndpointFormValues = {
      name: f.text('name'), backendEndpointId: f.text('backendEndpointId'), clusters: f.text('clusters'), defaultBridge: f.text('defaultBridge'),
      allowWrites: f.ticked('allowWrites'), isDefault: f.ticked('isDefault'),
    };
    const input = {
      name: values.name, backendEndpointId: numberOrText(values.backendEndpointId), allowWrites: values.allowWrites, isDefault: values.isDefault,
      clusters: values.clusters.split(',').map((s) => s.trim()).filter(Boolean), defaultBridge: values.defaultBridge || null,
    };
    return { values, input };
  };
  const endpointForm = (c: Context<UiEnv>, values: EndpointFormValues, status: ContentfulStatusCode, refusal?: Refusal, endpoint?: Parameters<typeof EndpointFormPage>[0]['endpoint']) =>
    render(c, <EndpointFormPage user={page.user(c)} csrfToken={page.csrf(c)} values={values} refusal={refusal} {...(endpoint ? { endpoint } : {})} />, status);
  const endpointOf = async (c: Context<UiEnv>) => {
    const id = EndpointId.safeParse(c.req.param('id'));
    return id.success ? deps.endpoints.get(id.data) : undefined;
  };
  const noEndpoint = (c: Context<UiEnv>) => refusePage(c, 404, 'No such endpoint', NO_ENDPOINT, 'not_found');
  const emptyEndpoint: EndpointFormValues = { name: '', backendEndpointId: '', clusters: '', defaultBridge: '', allowWrites: false, isDefault: false };

  ui.get('/endpoints/new', manage, (c) => endpointForm(c, emptyEndpoint, 200));
  ui.post('/endpoints', manage, async (c) => {
    const { values, input } = endpointInput(await formOf(c));
    const parsed = EndpointInput.safeParse(input);
    if (!parsed.success) return endpointForm(c, values, 422, validationRefusal(parsed.error, 'form'));
    const row = await deps.endpoints.create(parsed.data, pageActor(page.user(c)));
    if (row === 'name_taken') return endpointForm(c, values, 409, { code: 'name_taken', detail: NAME_TAKEN });
    return c.redirect(`/ui/endpoints?changed=${encodeURIComponent(`endpoint ${row.name}`)}`, 303);
  });
  ui.get('/endpoints/:id/edit', manage, async (c) => {
    const endpoint = await endpointOf(c);
    return endpoint ? endpointForm(c, endpointFormValues(endpoint), 200, undefined, endpoint) : noEndpoint(c);
  });
  ui.post('/endpoints/:id', manage, async (c) => {
    const endpoint = await endpointOf(c);
    if (!endpoint) return noEndpoint(c);
    const { values, input } = endpointInput(await formOf(c));
    const parsed = EndpointPatch.safeParse(input);
    if (!parsed.success) return endpointForm(c, values, 422, validationRefusal(parsed.error, 'form'), endpoint);
    const row = await deps.endpoints.update(endpoint.id, parsed.data, pageActor(page.user(c)));
    if (row === 'name_taken') return endpointForm(c, values, 409, { code: 'name_taken', detail: NAME_TAKEN }, endpoint);
    if (!row) return noEndpoint(c);
    return c.redirect(`/ui/endpoints?changed=${encodeURIComponent(`endpoint ${row.name}`)}`, 303);
  });
  ui.post('/endpoints/:id/allow-writes', manage, async (c) => {
    const endpoint = await endpointOf(c);
    if (!endpoint) return noEndpoint(c);
    const allowWrites = (await formOf(c)).text('allowWrites') === 'on';
    const row = await deps.endpoints.update(endpoint.id, { allowWrites }, pageActor(page.user(c)));
    if (!row || row === 'name_taken') return noEndpoint(c);
    return c.redirect(`/ui/endpoints?changed=${encodeURIComponent(`writes to ${row.name} ${allowWrites ? 'allowed' : 'blocked'}`)}`, 303);
  });
  ui.post('/endpoints/:id/delete', manage, async (c) => {
    const endpoint = await endpointOf(c);
    if (!endpoint) return noEndpoint(c);
    if (!(await formOf(c)).ticked('confirm')) {
      return endpointForm(c, endpointFormValues(endpoint), 422, { code: 'confirmation_required', detail: 'Tick the confirmation to remove the endpoint.' }, endpoint);
    }
    if (!(await deps.endpoints.delete(endpoint.id, pageActor(page.user(c))))) return noEndpoint(c);
    return c.redirect(`/ui/endpoints?changed=${encodeURIComponent(`endpoint ${endpoint.name} removed`)}`, 303);
  });

  // Users and tokens: `manage_users` for everything (/api/v1/users); sessions are the pages' own.
  const users = pagePermission('manage_users');
  const usersPage = async (c: Context<UiEnv>, extra: { refusal?: Refusal; status?: ContentfulStatusCode; draft?: { username: string; permissions: string[] } } = {}) => {
    const removed = c.req.query('removed');
    return render(c, <UsersPage user={page.user(c)} csrfToken={page.csrf(c)} users={await deps.users.list()} refusal={extra.refusal}
      notice={removed ? `User ${removed} was removed.` : undefined} {...(extra.draft ? { draft: extra.draft } : {})} />, extra.status ?? 200);
  };
  const subjectOf = async (c: Context<UiEnv>) => {
    const name = Username.safeParse(c.req.param('username'));
    return name.success ? deps.users.get(name.data) : undefined;
  };
  const noUser = (c: Context<UiEnv>) => refusePage(c, 404, 'No such user', NO_SUCH_USER, 'not_found');
  const userPage = async (c: Context<UiEnv>, username: string, extra: { refusal?: Refusal; status?: ContentfulStatusCode } = {}) => {
    const [subject, tokens, sessions] = await Promise.all([deps.users.get(username), deps.users.listTokens(username), deps.sessions.listActive(username)]);
    if (!subject || !tokens) return noUser(c);
    const done = c.req.query('done');
    return render(c, <UserPage user={page.user(c)} csrfToken={page.csrf(c)} subject={subject} tokens={tokens} sessions={sessions}
      refusal={extra.refusal} notice={done ? `Done: ${done}.` : undefined} />, extra.status ?? 200);
  };
  const back = (c: Context<UiEnv>, username: string, done: string) => c.redirect(`${userPath(username)}?done=${encodeURIComponent(done)}`, 303);

  ui.get('/users', users, (c) => usersPage(c));
  ui.post('/users', users, async (c) => {
    const f = await formOf(c);
    const draft = { username: f.text('username'), permissions: f.all('permissions') };
    const parsed = NewUser.safeParse(draft);
    if (!parsed.success) return usersPage(c, { refusal: validationRefusal(parsed.error, 'form'), status: 422, draft });
    const created = await deps.users.create(parsed.data.username, parsed.data.permissions, pageActor(page.user(c)));
    if (!created) return usersPage(c, { refusal: { code: 'user_exists', detail: userExists(parsed.data.username) }, status: 409, draft });
    return back(c, created.username, 'user created');
  });
  ui.get('/users/:username', users, async (c) => {
    const subject = await subjectOf(c);
    return subject ? userPage(c, subject.username) : noUser(c);
  });
  ui.post('/users/:username/permissions', users, async (c) => {
    const subject = await subjectOf(c);
    if (!subject) return noUser(c);
    const parsed = UserPatch.safeParse({ permissions: (await formOf(c)).all('permissions') });
    if (!parsed.success) return userPage(c, subject.username, { refusal: validationRefusal(parsed.error, 'form'), status: 422 });
    if (!(await deps.users.setPermissions(subject.username, parsed.data.permissions, pageActor(page.user(c))))) return noUser(c);
    return back(c, subject.username, 'permissions saved');
  });
  ui.post('/users/:username/tokens', users, async (c) => {
    const subject = await subjectOf(c);
    if (!subject) return noUser(c);
    const f = await formOf(c);
    const expiresOn = f.text('expiresOn');
    const parsed = NewToken.safeParse({ description: f.text('description'), ...(expiresOn ? { expiresAt: `${expiresOn}T23:59:59Z` } : {}) });
    if (!parsed.success) return userPage(c, subject.username, { refusal: validationRefusal(parsed.error, 'form'), status: 422 });
    const { description, expiresAt } = parsed.data;
    const created = await deps.users.createToken(subject.username, { description, ...(expiresAt ? { expiresAt: new Date(expiresAt) } : {}) }, pageActor(page.user(c)));
    if (!created) return noUser(c);
    const { token, ...view } = created;
    return render(c, <TokenCreatedPage user={page.user(c)} csrfToken={page.csrf(c)} subject={subject.username} token={token} tokenView={view} />, 201);
  });
  ui.post('/users/:username/tokens/:tokenId/revoke', users, async (c) => {
    const subject = await subjectOf(c);
    if (!subject) return noUser(c);
    const tokenId = TokenId.safeParse(c.req.param('tokenId'));
    if (!tokenId.success || !(await deps.users.revokeToken(subject.username, tokenId.data, pageActor(page.user(c))))) {
      return userPage(c, subject.username, { refusal: { code: 'not_found', detail: 'No such active token.' }, status: 404 });
    }
    return back(c, subject.username, 'token revoked; the sessions opened with it have ended');
  });
  ui.post('/users/:username/sessions/revoke', users, async (c) => {
    const subject = await subjectOf(c);
    if (!subject) return noUser(c);
    const ended = await deps.sessions.revokeAllOf(subject.username, page.user(c).username);
    return back(c, subject.username, `${ended} session(s) ended`);
  });
  ui.post('/users/:username/delete', users, async (c) => {
    const subject = await subjectOf(c);
    if (!subject) return noUser(c);
    if (!(await formOf(c)).ticked('confirm')) {
      return userPage(c, subject.username, { refusal: { code: 'confirmation_required', detail: 'Tick the confirmation to remove the user.' }, status: 422 });
    }
    if (!(await deps.users.delete(subject.username, pageActor(page.user(c))))) return noUser(c);
    return c.redirect(`/ui/users?removed=${encodeURIComponent(subject.username)}`, 303);
  });

  // The audit log: `manage_users` or `manage_settings` (GET /api/v1/audit-log).
  ui.get('/audit-log', pagePermission('manage_users', 'manage_settings'), async (c) => {
    const q = c.req.query();
    const filter = { actor: q.actor?.trim() || undefined, action: q.action?.trim() || undefined, since: q.since?.trim() || undefined };
    const show = (rows: Awaited<ReturnType<AuditLog['list']>>, nextCursor: string | null, refusal?: Refusal) =>
      render(c, <AuditLogPage user={page.user(c)} csrfToken={page.csrf(c)} filter={filter} rows={rows} nextCursor={nextCursor} isFirst={!q.cursor}
        refusal={refusal} />, refusal ? 422 : 200);
    const parsed = AuditFilter.safeParse(filter);
    if (!parsed.success) return show([], null, validationRefusal(parsed.error, 'filter'));
    let beforeId;
    try { beforeId = decodeCursor(q.cursor, z.number().int()); } catch (err) {
      if (err instanceof ProblemError) return show([], null, { code: 'invalid_cursor', detail: 'This page link is not valid; start again from the first page.' });
      throw err;
    }
    const { actor, action, since } = parsed.data;
    const rows = await deps.audit.list({ limit: AUDIT_PAGE_SIZE, ...(actor ? { actor } : {}), ...(action ? { action } : {}),
      ...(since ? { since: new Date(since) } : {}), ...(beforeId !== undefined ? { beforeId } : {}) });
    const last = rows.length === AUDIT_PAGE_SIZE ? rows[rows.length - 1] : undefined;
    return show(rows, last ? encodeCursor(last.id) : null);
  });

  // Status: `view` (GET /api/v1/status, the same cached answer).
  ui.get('/status', pagePermission('view'), async (c) =>
    render(c, <StatusPage user={page.user(c)} csrfToken={page.csrf(c)} status={await deps.status.status()} />));
}
