import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite, cookieHeader, expectAccessible, screenshot, signIn } from '../support/browser';
import { jobsOfBranch } from '../support/merges';
import { eventually } from '../support/stack';

/**
 * The operator pages in a real browser (headless Chromium) against the whole stack: sessions, permissions, CSRF,
 * the live log over the API's event stream, and cancel. axe-core checks every page for serious violations.
 */
const AUTH_LIMIT = 20;

describe('operator pages (/ui) in a browser', () => {
  // A failed-sign-in limit low enough to reach in the last test.
  const ui = browserSuite({ env: { AUTH_FAILURES_PER_IP: String(AUTH_LIMIT) } });
  const { pageFor, signedIn } = ui;
  const csrfOf = async (page: Page) => (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;
  const post = (path: string, headers: Record<string, string>, form: Record<string, string>) =>
    fetch(`${ui.stack.api}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  const jobState = async (id: string) => (await ui.stack.call(ui.stack.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body.state as string;

  it('sends a visitor without a session to the sign-in page and back, signs in each demo user, and signs out for good', async () => {
    const { context, page } = await pageFor();
    await page.goto(`${ui.stack.api}/ui/apply-jobs?state=running`);
    expect(page.url()).toBe(`${ui.stack.api}/ui/sign-in?next=${encodeURIComponent('/ui/apply-jobs?state=running')}`);
    await expectAccessible(page, 'sign-in');
    await screenshot(page, 'sign-in');

    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('API token').fill('pbi_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('The username or token is wrong');
    expect(await context.cookies()).toEqual([]);
    // Someone else's token with my name is no sign-in either.
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('API token').fill(ui.stack.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('The username or token is wrong');

    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('API token').fill(ui.stack.tokens.carol);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${ui.stack.api}/ui/apply-jobs?state=running`);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'pbi_session', httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
    expect(cookie!.value).not.toContain(ui.stack.tokens.carol);

    const headers = (await page.goto(`${ui.stack.api}/ui/dashboard`))!.headers();
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy']).toContain("script-src 'self'");
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Dashboard', 'Apply jobs', 'Deletion requests', 'Plans', 'Settings', 'Endpoints', 'Status']);
    await expect.poll(() => page.getByText('You do not hold authorize_deletion_request').count()).toBe(1);

    // Sign-out ends the session in PostgreSQL: the old cookie, replayed, opens nothing.
    const stolen = await cookieHeader(context);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${ui.stack.api}/ui/sign-in?signedOut=1`);
    const replay = await fetch(`${ui.stack.api}/ui/dashboard`, { headers: { cookie: stolen }, redirect: 'manual' });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe(`/ui/sign-in?next=${encodeURIComponent('/ui/dashboard')}`);

    for (const user of ['admin', 'alice', 'bob'] as const) {
      const { page: p } = await signedIn(user);
      expect(await p.locator('header').textContent()).toContain(`Signed in as ${user}`);
      const links = await p.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
      expect(links.includes('Users'), `${user} sees Users`).toBe(user === 'admin');
      expect(links.includes('Audit log'), `${user} sees the audit log`).toBe(user === 'admin');
      await expectAccessible(p, `dashboard of ${user}`);
    }
  });

  it('follows only local paths after signing in, and ends sessions whose token is revoked', async () => {
    const { page } = await pageFor();
    await signIn(page, ui.stack.api, 'carol', ui.stack.tokens.carol, '//evil.example/ui');
    expect(page.url()).toBe(`${ui.stack.api}/ui/dashboard`);

    const issued = await ui.stack.call(ui.stack.tokens.admin, 'POST', '/api/v1/users/bob/tokens', { description: 'ui test' });
    expect(issued.status).toBe(201);
    const { page: bobs } = await pageFor();
    await signIn(bobs, ui.stack.api, 'bob', issued.body.token, 'https://evil.example/');
    expect(bobs.url()).toBe(`${ui.stack.api}/ui/dashboard`);
    expect((await ui.stack.call(ui.stack.tokens.admin, 'DELETE', `/api/v1/users/bob/tokens/${issued.body.id}`)).status).toBe(204);
    await bobs.reload();
    expect(new URL(bobs.url()).pathname).toBe('/ui/sign-in');
  });

  it('shows the demo branch\'s job finishing live, with its results, in the list and on the dashboard', async () => {
    // Slow writes, so the run is still going when its page opens.
    ui.stack.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_500, times: 3 });
    const { branch } = ui.stack.netbox.buildDemoBranch({ name: 'ui-demo' });
    await ui.stack.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => (await jobsOfBranch(ui.stack, branch.id))[0], 'the demo job');

    const { page } = await signedIn('carol');
    const events: string[] = [];
    page.on('response', (r) => { if (r.url().endsWith(`/api/v1/apply-jobs/${job.id}/events`)) events.push(`${r.status()}`); });
    await page.goto(`${ui.stack.api}/ui/apply-jobs/${job.id}`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`Apply job ${job.id.slice(0, 8)}`);
    await expectAccessible(page, 'apply job (running)');
    await screenshot(page, 'apply-job-running');
    await expect.poll(() => page.locator('#live-log').textContent(), { timeout: 30_000 }).toMatch(/result /);
    expect(events).toContain('200');
    // On `complete` the page reloads itself with the final results.
    await page.locator('#live-log').waitFor({ state: 'detached', timeout: 60_000 });
    const facts = await page.locator('dl.facts').textContent();
    expect(facts).toMatch(/succeeded|partial/);
    expect(await page.locator('table').first().textContent()).toContain('deletion requested');
    expect(await page.getByRole('link', { name: 'Open the run in the Temporal UI' }).getAttribute('href'))
      .toBe(`http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(job.workflowId)}`);
    await expectAccessible(page, 'apply job (finished)');
    await screenshot(page, 'apply-job');

    await page.goto(`${ui.stack.api}/ui/apply-jobs?user=alice&branchId=${branch.id}`);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.goto(`${ui.stack.api}/ui/apply-jobs?user=nobody`);
    expect(await page.getByText('No apply job matches.').count()).toBe(1);
    await page.goto(`${ui.stack.api}/ui/apply-jobs?state=bogus`);
    expect(await page.getByRole('alert').textContent()).toContain("Unknown state 'bogus'");
    await page.goto(`${ui.stack.api}/ui/apply-jobs`);
    await expectAccessible(page, 'apply jobs');
    await screenshot(page, 'apply-jobs');

    // bob may decide the deletion alice's merge asked for; alice may not (her own request).
    const { page: bobs } = await signedIn('bob');
    expect(await bobs.locator('#awaiting + table').textContent()).toContain('alice');
    await screenshot(bobs, 'dashboard');
    const { page: alices } = await signedIn('alice');
    expect(await alices.getByText('No pending deletion request awaits you.').count()).toBe(1);
  });

  it('cancels a running job after the confirmation; refuses it without the permission and from another origin', async () => {
    // Three waves of slow writes keep the run going until the page's cancel lands, also on a loaded machine; each write
    // answers within the stack's backend timeout (10 s).
    ui.stack.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 8_000, times: 12 });
    const branch = ui.stack.netbox.createBranch({ name: 'ui-cancel', owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < 12; i++) {
      ui.stack.netbox.createVm(branch.id, { name: `uicancel-${i}`, cluster: 5, vcpus: '1.00', memory: 512, tags: [],
        custom_fields: { proxmox_vm_id: 620 + i, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' } });
    }
    await ui.stack.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => {
      const j = (await jobsOfBranch(ui.stack, branch.id))[0];
      return j?.state === 'running' ? j : undefined;
    }, 'the running job');
    const cancelPath = `/ui/apply-jobs/${job.id}/cancel`;

    // carol may view but not cancel: no button, a 403 page, and her own valid form changes nothing.
    const { context: carolContext, page: carol } = await signedIn('carol');
    await carol.goto(`${ui.stack.api}/ui/apply-jobs/${job.id}`);
    expect(await carol.getByText('Cancel this run').count()).toBe(0);
    const denied = await carol.goto(`${ui.stack.api}${cancelPath}`);
    expect(denied!.status()).toBe(403);
    expect(await carol.getByRole('alert').textContent()).toContain("permission denied: this page requires 'cancel_apply_job'");
    await expectAccessible(carol, 'permission refused');
    const carolPost = await post(cancelPath, { cookie: await cookieHeader(carolContext), origin: ui.stack.api }, { _csrf: await csrfOf(carol), confirm: 'yes' });
    expect(carolPost.status).toBe(403);
    expect(await jobState(job.id)).toBe('running');

    const { context, page } = await signedIn('admin');
    const cookie = await cookieHeader(context);
    const csrf = await csrfOf(page);
    // Another origin, even with the session and its token, or our origin without the token: refused, nothing changed.
    const foreign = await post(cancelPath, { cookie, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }, { _csrf: csrf, confirm: 'yes' });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain('sent from another site');
    const tokenless = await post(cancelPath, { cookie, origin: ui.stack.api }, { confirm: 'yes' });
    expect(tokenless.status).toBe(403);
    const forged = await post(cancelPath, { cookie, origin: ui.stack.api }, { _csrf: `${csrf.slice(0, -2)}xx`, confirm: 'yes' });
    expect(forged.status).toBe(403);
    // A page of another origin that posts the form in the signed-in browser.
    const evil = await foreignSite(`${ui.stack.api}${cancelPath}`);
    try {
      const { port } = evil.address() as AddressInfo;
      const evilPage = await context.newPage();
      await evilPage.goto(`http://127.0.0.1:${port}/`);
      await evilPage.waitForURL(`${ui.stack.api}${cancelPath}`);
      expect(await evilPage.getByRole('alert').textContent()).toContain('sent from another site');
    } finally { evil.close(); }
    expect(await jobState(job.id)).toBe('running');

    await page.goto(`${ui.stack.api}/ui/apply-jobs/${job.id}`);
    const link = page.getByRole('link', { name: 'Cancel this run…' });
    expect(await link.getAttribute('href')).toBe(cancelPath);
    await Promise.all([page.waitForURL(`${ui.stack.api}${cancelPath}`, { timeout: 60_000 }), link.click({ timeout: 60_000 })]);
    await expectAccessible(page, 'cancel confirmation');
    await screenshot(page, 'cancel');
    await page.getByLabel('I want to cancel this run').check();
    // The cancel answers once the run has closed, or after 15 s while it is still stopping.
    await Promise.all([page.waitForURL(/\?cancelled=(closed|stopping)$/, { timeout: 60_000 }), page.getByRole('button', { name: 'Cancel the run' }).click()]);
    expect(await page.getByRole('status').first().textContent()).toMatch(/cancelled|Cancel requested/);
    await eventually(async () => (await jobState(job.id)) === 'failed' || undefined, 'the cancelled job to close', 60_000);
    const detail = (await ui.stack.call(ui.stack.tokens.carol, 'GET', `/api/v1/apply-jobs/${job.id}`)).body;
    expect(detail.perVmResults._cancelled.message).toContain('Cancelled by admin');
  }, 150_000);

  // Last: it locks this address out of the stack for the rest of the window.
  it('limits failed sign-ins per address like the API, and then refuses even the right token', async () => {
    const signInWith = (token: string) => post('/ui/sign-in', { origin: ui.stack.api }, { username: 'carol', token, next: '/ui/dashboard' });
    // The first test made two failed sign-ins from this address already.
    const answers: number[] = [];
    for (let i = 0; i < AUTH_LIMIT - 1; i++) answers.push((await signInWith(`pbi_guess${i}`)).status);
    expect(answers).toEqual([...Array(AUTH_LIMIT - 2).fill(401), 429]);
    const right = await signInWith(ui.stack.tokens.carol);
    expect(right.status).toBe(429);
    expect(await right.text()).toContain('Too many failed sign-ins from this address');
    expect(right.headers.get('set-cookie')).toBeNull();
  });
});

/** A page of another origin whose script submits a POST form to `target` (what a CSRF attack does). */
async function foreignSite(target: string): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><form method="post" action="${target}"><input name="confirm" value="yes"></form><script>document.forms[0].submit()</script>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
