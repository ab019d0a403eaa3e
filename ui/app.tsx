import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ApplyJobStore } from '../db/apply-jobs';
import type { DeletionRequestStore } from '../db/deletion-requests';
import type { SessionStore } from '../db/sessions';
import type { UserStore } from '../db/users';
import { JOB_STATES, type JobState } from '../domain/job-state';
import { hasPermission } from '../domain/permissions';
import { safeNextPath } from '../domain/sessions';
import type { ApplyJobService } from '../services/apply-jobs';
import { decodeCursor, encodeCursor } from '../api/pagination';
import { ProblemError } from '../api/problem';
import type { AuthFailureGuard } from '../api/rate-limits';
import { temporalUrl, type TemporalLinks } from '../api/views';
import { adminPages, type AdminDeps } from './admin';
import { loadAssets, type AssetName } from './assets';
import type { UiEnv } from './context';
import { csrfProtection } from './csrf';
import { ErrorPage, NotBuiltPage } from './pages/errors';
import { ApplyJobListPage, ApplyJobPage, CancelJobPage, jobPath } from './pages/apply-jobs';
import { DashboardPage } from './pages/dashboard';
import { SignInPage } from './pages/sign-in';
import { pagePermission, refusePage, render, securityHeaders } from './render';
import { clearSessionCookie, requireSession, sessionSecretOf, setSessionCookie } from './session';

export interface UiDeps {
  users: UserStore;
  sessions: SessionStore;
  jobs: ApplyJobStore;
  deletions: DeletionRequestStore;
  jobService: ApplyJobService;
  links: TemporalLinks;
  /** The API's failed-authentication limit: a wrong token on the sign-in page counts as one, per address. */
  authGuard: AuthFailureGuard;
  trustedProxies: readonly string[];
  /** The administrators' pages (ui/admin.tsx): settings, endpoints and backend, users and tokens, audit log, status. */
  admin: Omit<AdminDeps, 'users' | 'sessions'>;
}

const PAGE_SIZE = 25;
const JobCursor = z.object({ createdAt: z.iso.datetime(), id: z.uuid() });
const JobId = z.uuid();

/**
 * The operator pages under /ui (mounted by api/app.ts). Order matters: security headers on everything; the static
 * files and the sign-in page without a session; every state-changing request refused unless it comes from our own
 * origin; then the session, then the CSRF token of the session on every form.
 */
export function uiRoutes(deps: UiDeps) {
  const assets = loadAssets();
  const ui = new Hono<UiEnv>();
  const refuseForeign = (c: Context<UiEnv>, why: string) =>
    render(c, <ErrorPage title="Refused" message={why} code="csrf_refused" />, 403);

  ui.use(securityHeaders());
  ui.get('/static/:name', (c) => {
    const asset = assets[c.req.param('name') as AssetName] as (typeof assets)[AssetName] | undefined;
    if (!asset) return c.text('Not found', 404);
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304);
    return c.body(asset.body, 200, { 'Content-Type': asset.type, ETag: asset.etag, 'Cache-Control': 'no-cache' });
  });
  ui.use(csrfProtection({ trustedProxies: deps.trustedProxies, withToken: false, refuse: refuseForeign }));

  ui.get('/', async (c) => {
    const secret = sessionSecretOf(c);
    return c.redirect(secret && await deps.sessions.resolve(secret) ? '/ui/dashboard' : '/ui/sign-in', 303);
  });
  ui.get('/sign-in', async (c) => {
    const next = safeNextPath(c.req.query('next'));
    const secret = sessionSecretOf(c);
    if (secret && await deps.sessions.resolve(secret)) return c.redirect(next, 303);
    return render(c, <SignInPage next={next} notice={c.req.query('signedOut') ? 'You are signed out.' : undefined} />);
  });
  ui.post('/sign-in', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNextPath(typeof form.next === 'string' ? form.next : undefined);
    const username = typeof form.username === 'string' ? form.username.trim() : '';
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    const page = (status: 401 | 429, error: string) => render(c, <SignInPage next={next} username={username} error={error} />, status);
    const tooMany = async (r: Response) => page(429, `Too many failed sign-ins from this address. Try again in ${r.headers.get('retry-after') ?? 'a few'} s.`);
    const locked = await deps.authGuard.lockedOut(c);
    if (locked) return tooMany(locked);
    if (!username || !token) return page(401, 'Enter your username and one of your API tokens.');
    // The same check as the API's Bearer authentication; the token must also belong to the name typed.
    const user = await deps.users.authenticate(token);
    if (!user || user.username !== username) {
      const refused = await deps.authGuard.failed(c);
      return refused ? tooMany(refused) : page(401, 'The username or token is wrong, or the token is revoked or expired.');
    }
    // Ended sessions are kept a day (for the administrators' view), then dropped; sign-ins are rare enough to do it here.
    await deps.sessions.prune();
    const session = await deps.sessions.open(user);
    setSessionCookie(c, session.secret, deps.trustedProxies);
    return c.redirect(next, 303);
  });

  ui.use(requireSession(deps.sessions));
  ui.use(csrfProtection({ trustedProxies: deps.trustedProxies, withToken: true, refuse: refuseForeign }));

  ui.post('/sign-out', async (c) => {
    await deps.sessions.revokeBySecret(sessionSecretOf(c)!, c.get('user').username);
    clearSessionCookie(c, deps.trustedProxies);
    return c.redirect('/ui/sign-in?signedOut=1', 303);
  });

  ui.get('/dashboard', pagePermission('view'), async (c) => {
    const user = c.get('user');
    const [running, queued, failed, partial] = await Promise.all(
      (['running', 'queued', 'failed', 'partial'] as const).map((state) => deps.jobs.list({ state, limit: 10 })));
    const mayDecide = hasPermission(user.permissions, 'authorize_deletion_request');
    const pending = mayDecide ? await deps.deletions.list({ state: 'pending', limit: 100 }) : [];
    const byFinish = (a: { finishedAt: Date | null }, b: { finishedAt: Date | null }) => (b.finishedAt?.getTime() ?? 0) - (a.finishedAt?.getTime() ?? 0);
    return render(c, <DashboardPage user={user} csrfToken={c.get('csrfToken')} data={{
      running: [...running!, ...queued!],
      awaitingMe: mayDecide ? pending.filter((d) => d.requestedBy !== user.username).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime()) : null,
      recentFailures: [...failed!, ...partial!].sort(byFinish).slice(0, 10),
    }} />);
  });

  ui.get('/apply-jobs', pagePermission('view'), async (c) => {
    const q = c.req.query();
    const filter = { state: q.state || undefined, branchId: q.branchId || undefined, user: q.user?.trim() || undefined };
    const page = (jobs: Awaited<ReturnType<ApplyJobStore['list']>>, nextCursor: string | null, refusal?: { code: string; detail: string }) =>
      render(c, <ApplyJobListPage user={c.get('user')} csrfToken={c.get('csrfToken')} filter={filter} jobs={jobs} nextCursor={nextCursor}
        isFirst={!q.cursor} refusal={refusal} />, refusal ? 422 : 200);
    const state = filter.state === undefined ? undefined : JOB_STATES.find((s) => s === filter.state);
    const branchId = filter.branchId === undefined ? undefined : Number(filter.branchId);
    if (filter.state !== undefined && !state) return page([], null, { code: 'invalid_filter', detail: `Unknown state '${filter.state}'.` });
    if (branchId !== undefined && !(Number.isInteger(branchId) && branchId > 0)) return page([], null, { code: 'invalid_filter', detail: 'The branch id is a positive whole number.' });
    let after;
    try { after = decodeCursor(q.cursor, JobCursor); } catch (err) {
      if (err instanceof ProblemError) return page([], null, { code: 'invalid_cursor', detail: 'This page link is not valid; start again from the first page.' });
      throw err;
    }
    const jobs = await deps.jobs.list({ limit: PAGE_SIZE, ...(state ? { state: state as JobState } : {}), ...(branchId ? { branchId } : {}),
      ...(filter.user ? { username: filter.user } : {}), ...(after ? { after: { createdAt: new Date(after.createdAt), id: after.id } } : {}) });
    const last = jobs.length === PAGE_SIZE ? jobs[jobs.length - 1] : undefined;
    return page(jobs, last ? encodeCursor({ createdAt: last.createdAt.toISOString(), id: last.id }) : null);
  });

  const withJob = pagePermission('view');
  ui.get('/apply-jobs/:id', withJob, async (c) => {
    const id = c.req.param('id');
    if (!JobId.safeParse(id).success) return refusePage(c, 404, 'No such apply job', 'No apply job with this id.', 'not_found');
    const shown = await deps.jobService.show(id);
    if (!shown.ok) return refusePage(c, 404, 'No such apply job', shown.detail, shown.code);
    const notice = c.req.query('cancelled') === 'closed' ? 'The run was cancelled and has closed.'
      : c.req.query('cancelled') === 'stopping' ? 'Cancel requested: the run is still stopping (writes in flight are awaited).' : undefined;
    return render(c, <ApplyJobPage user={c.get('user')} csrfToken={c.get('csrfToken')} notice={notice}
      mayCancel={hasPermission(c.get('user').permissions, 'cancel_apply_job')}
      detail={{ job: shown.job, results: shown.results, trouble: shown.trouble, temporalUrl: temporalUrl(deps.links, shown.job.workflowId) }} />);
  });

  const cancelPermission = pagePermission('cancel_apply_job');
  const jobOr404 = async (c: Context<UiEnv>) => {
    const id = c.req.param('id') ?? '';
    return JobId.safeParse(id).success ? deps.jobs.get(id) : undefined;
  };
  ui.get('/apply-jobs/:id/cancel', cancelPermission, async (c) => {
    const job = await jobOr404(c);
    if (!job) return refusePage(c, 404, 'No such apply job', 'No apply job with this id.', 'not_found');
    return render(c, <CancelJobPage user={c.get('user')} csrfToken={c.get('csrfToken')} job={job} />);
  });
  ui.post('/apply-jobs/:id/cancel', cancelPermission, async (c) => {
    const job = await jobOr404(c);
    if (!job) return refusePage(c, 404, 'No such apply job', 'No apply job with this id.', 'not_found');
    const form = await c.req.parseBody();
    if (form.confirm !== 'yes') {
      return render(c, <CancelJobPage user={c.get('user')} csrfToken={c.get('csrfToken')} job={job} error="Tick the confirmation to cancel the run." />, 422);
    }
    const result = await deps.jobService.cancel(job.id, c.get('user').username, form.force === 'true');
    if (!result.ok) return render(c, <CancelJobPage user={c.get('user')} csrfToken={c.get('csrfToken')} job={job} refusal={result} />, 409);
    return c.redirect(`${jobPath(job.id)}?cancelled=${result.job.state === 'failed' ? 'closed' : 'stopping'}`, 303);
  });

  adminPages(ui, { users: deps.users, sessions: deps.sessions, ...deps.admin });

  // Pages of the navigation that phase 2 builds; each names the API route with the same data meanwhile.
  const notBuilt: [string, string, string, Parameters<typeof pagePermission>][] = [
    ['/deletion-requests', 'Deletion requests', 'GET /api/v1/deletion-requests', ['view']],
    ['/plans', 'Plans', 'GET /api/v1/branches/{id}/plan-summary', ['view']],
  ];
  for (const [path, title, apiPath, anyOf] of notBuilt) {
    ui.get(path, pagePermission(...anyOf), (c) =>
      render(c, <NotBuiltPage title={title} apiPath={apiPath} user={c.get('user')} csrfToken={c.get('csrfToken')} current={`/ui${path}`} />));
  }

  ui.all('*', (c) => refusePage(c, 404, 'Page not found', `No page at ${new URL(c.req.url).pathname}.`, 'not_found'));
  return ui;
}
