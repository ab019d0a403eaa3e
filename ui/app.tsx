import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import type { ApplyJobStore } from '../db/apply-jobs';
import type { DeletionRequestStore, DeletionRow } from '../db/deletion-requests';
import type { SessionStore } from '../db/sessions';
import type { UserStore } from '../db/users';
import { JOB_STATES, type JobState } from '../domain/job-state';
import { hasPermission } from '../domain/permissions';
import { safeNextPath } from '../domain/sessions';
import { DELETION_STATES, RejectionReason, TypedVmid, type DeletionState } from '../domain/deletion-rules';
import type { ApplyJobService } from '../services/apply-jobs';
import type { DeletionDecisions } from '../services/deletion-decisions';
import type { MergeValidator } from '../services/merge-validator';
import { decodeCursor, encodeCursor } from '../api/pagination';
import { ProblemError } from '../api/problem';
import type { AuthFailureGuard } from '../api/rate-limits';
import { refusalStatus } from '../api/refusal-status';
import { temporalUrl, type TemporalLinks } from '../api/views';
import { adminPages, type AdminDeps } from './admin';
import { loadAssets, type AssetName } from './assets';
import type { PageUser, UiEnv } from './context';
import { csrfProtection } from './csrf';
import { ErrorPage } from './pages/errors';
import { ApplyJobListPage, ApplyJobPage, CancelJobPage, jobPath } from './pages/apply-jobs';
import { DashboardPage } from './pages/dashboard';
import { DeletionListPage, DeletionRequestPage, deletionPath, type DeletionAction } from './pages/deletion-requests';
import { PlanFormPage, PlanPage, planPagePath } from './pages/plan';
import { SignInPage } from './pages/sign-in';
import { pagePermission, refusePage, render, securityHeaders } from './render';
import { clearSessionCookie, requireSession, sessionSecretOf, setSessionCookie } from './session';

export interface UiDeps {
  users: UserStore;
  sessions: SessionStore;
  jobs: ApplyJobStore;
  deletions: DeletionRequestStore;
  jobService: ApplyJobService;
  decisions: DeletionDecisions;
  validator: MergeValidator;
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
const PositiveId = z.coerce.number().int().positive();
/** Pending requests shown above the rest on the first page of the list (they expire, so there are few). */
const PENDING_SHOWN = 100;

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

  ui.get('/deletion-requests', pagePermission('view'), async (c) => {
    const q = c.req.query();
    const filter = { state: q.state || undefined, branchId: q.branchId?.trim() || undefined, vmid: q.vmid?.trim() || undefined };
    const now = new Date();
    const page = (pending: DeletionRow[] | null, rows: DeletionRow[], nextCursor: string | null, refusal?: { code: string; detail: string }) =>
      render(c, <DeletionListPage user={c.get('user')} csrfToken={c.get('csrfToken')} filter={filter} now={now} pending={pending}
        pendingCapped={(pending?.length ?? 0) >= PENDING_SHOWN} rows={rows} nextCursor={nextCursor} isFirst={!q.cursor} refusal={refusal} />, refusal ? 422 : 200);
    const state = filter.state === undefined ? undefined : DELETION_STATES.find((s) => s === filter.state);
    if (filter.state !== undefined && !state) return page(null, [], null, { code: 'invalid_filter', detail: `Unknown state '${filter.state}'.` });
    const branchId = filter.branchId === undefined ? undefined : PositiveId.safeParse(filter.branchId);
    if (branchId && !branchId.success) return page(null, [], null, { code: 'invalid_filter', detail: 'The branch id is a positive whole number.' });
    const vmid = filter.vmid === undefined ? undefined : PositiveId.safeParse(filter.vmid);
    if (vmid && !vmid.success) return page(null, [], null, { code: 'invalid_filter', detail: 'The VMID is a positive whole number.' });
    let afterId;
    try { afterId = decodeCursor(q.cursor, z.number().int()); } catch (err) {
      if (err instanceof ProblemError) return page(null, [], null, { code: 'invalid_cursor', detail: 'This page link is not valid; start again from the first page.' });
      throw err;
    }
    const where = { ...(branchId?.success ? { branchId: branchId.data } : {}), ...(vmid?.success ? { vmid: vmid.data } : {}) };
    // Without a state filter, pending requests come first (first page only) and the pages below hold the decided ones.
    const pendingFirst = !state;
    const pending = pendingFirst && !q.cursor
      ? (await deps.deletions.list({ ...where, state: 'pending', limit: PENDING_SHOWN })).sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime())
      : null;
    const rows = await deps.deletions.list({ ...where, limit: PAGE_SIZE, ...(afterId !== undefined ? { afterId } : {}),
      ...(pendingFirst ? { states: DELETION_STATES.filter((s): s is Exclude<DeletionState, 'pending'> => s !== 'pending') } : { state }) });
    const last = rows.length === PAGE_SIZE ? rows[rows.length - 1] : undefined;
    return page(pending, rows, last ? encodeCursor(last.id) : null);
  });

  const showDeletion = async (c: Context<UiEnv>, id: number, status: ContentfulStatusCode, extra: { done?: string; failed?: { action: DeletionAction; refusal: { code: string; detail: string } } }) => {
    const shown = await deps.decisions.show(id);
    if (!shown.ok) return refusePage(c, 404, 'No such deletion request', shown.detail, shown.code);
    const user = c.get('user');
    return render(c, <DeletionRequestPage user={user} csrfToken={c.get('csrfToken')} now={new Date()} {...extra}
      mayDecide={hasPermission(user.permissions, 'authorize_deletion_request')}
      detail={{ request: shown.request, trouble: shown.trouble, temporalUrl: temporalUrl(deps.links, shown.request.workflowId) }} />, status);
  };
  const deletionId = (c: Context<UiEnv>) => PositiveId.safeParse(c.req.param('id'));
  const noDeletion = (c: Context<UiEnv>) => refusePage(c, 404, 'No such deletion request', 'No deletion request with this id.', 'not_found');
  ui.get('/deletion-requests/:id', pagePermission('view'), async (c) => {
    const id = deletionId(c);
    if (!id.success) return noDeletion(c);
    const done = c.req.query('done');
    return showDeletion(c, id.data, 200, done ? { done } : {});
  });

  /**
   * The decisions of "Deletion requests": the form is read with the API's schemas, then the use case decides (the
   * permission and the four-eyes rules included, as for the API), and a refusal is shown beside its form.
   */
  const decisionRoute = (action: DeletionAction, run: (id: number, user: PageUser, form: Record<string, unknown>) =>
    Promise<{ ok: true } | { ok: false; code: string; detail: string }>, done: string) =>
    // Like the API's decision routes, the use case checks authorize_deletion_request (and records a refusal).
    ui.post(`/deletion-requests/:id/${action}`, pagePermission('view', 'authorize_deletion_request'), async (c) => {
      const id = deletionId(c);
      if (!id.success) return noDeletion(c);
      const result = await run(id.data, c.get('user'), await c.req.parseBody());
      if (result.ok) return c.redirect(`${deletionPath(id.data)}?done=${done}`, 303);
      return showDeletion(c, id.data, refusalStatus(result.code), { failed: { action, refusal: result } });
    });
  const typedVmid = (form: Record<string, unknown>) => {
    const raw = typeof form.vmid === 'string' ? form.vmid.trim() : '';
    const vmid = TypedVmid.safeParse(/^\d+$/.test(raw) ? Number(raw) : Number.NaN);
    return vmid.success ? vmid.data : null;
  };
  const formError = (detail: string) => ({ ok: false as const, code: 'invalid_form', detail });
  const NO_VMID = 'Type the VMID of the guest, a positive whole number. Nothing changed.';
  decisionRoute('approve', async (id, user, form) => {
    const vmid = typedVmid(form);
    return vmid === null ? formError(NO_VMID) : deps.decisions.decide(id, user, 'approve', { typedVmid: vmid });
  }, 'approved');
  decisionRoute('reject', async (id, user, form) => {
    const reason = RejectionReason.safeParse(typeof form.reason === 'string' ? form.reason : '');
    if (!reason.success) return formError(`The reason ${reason.error.issues[0]?.code === 'too_big' ? 'is at most 255 characters' : 'is required'}: say why the guest must stay. Nothing changed.`);
    return deps.decisions.decide(id, user, 'reject', { reason: reason.data });
  }, 'rejected');
  decisionRoute('confirm-destroyed', async (id, user, form) => {
    const vmid = typedVmid(form);
    return vmid === null ? formError(NO_VMID) : deps.decisions.confirmDestroyed(id, user, vmid);
  }, 'confirmed');

  ui.get('/plans', pagePermission('view'), (c) => {
    const branchId = c.req.query('branchId')?.trim();
    const actor = c.req.query('actor')?.trim() || undefined;
    if (branchId === undefined) return render(c, <PlanFormPage user={c.get('user')} csrfToken={c.get('csrfToken')} />);
    const id = PositiveId.safeParse(branchId);
    if (id.success) return c.redirect(planPagePath(id.data, actor), 303);
    return render(c, <PlanFormPage user={c.get('user')} csrfToken={c.get('csrfToken')} branchId={branchId} actor={actor}
      refusal={{ code: 'invalid_form', detail: 'The branch id is a positive whole number (the NetBox branch\'s id).' }} />, 422);
  });
  // The API's plan route's permission; the per-user plan limit is the API's too (the validator counts both).
  ui.get('/branches/:branchId/plan', pagePermission('view'), async (c) => {
    const id = PositiveId.safeParse(c.req.param('branchId'));
    if (!id.success) return refusePage(c, 404, 'No such branch', 'A branch id is a positive whole number.', 'branch_not_found');
    const actor = c.req.query('actor')?.trim() || null;
    const answer = await deps.validator.planFor(c.get('user').username, id.data, actor);
    if (answer.ok) return render(c, <PlanPage user={c.get('user')} csrfToken={c.get('csrfToken')} plan={answer.plan} />);
    if (answer.code === 'rate_limited') c.header('Retry-After', String(answer.retryAfterS));
    return refusePage(c, refusalStatus(answer.code), 'No plan', answer.detail, answer.code);
  });

  adminPages(ui, { users: deps.users, sessions: deps.sessions, ...deps.admin });

  ui.all('*', (c) => refusePage(c, 404, 'Page not found', `No page at ${new URL(c.req.url).pathname}.`, 'not_found'));
  return ui;
}
