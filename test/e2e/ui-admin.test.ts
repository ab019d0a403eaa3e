import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite, submitForm, cookieHeader, expectAccessible, screenshot } from '../support/browser';
import { PROXBOX_KEY } from '../support/stack';

/**
 * The administrators' pages in a real browser against the whole stack (the master flag starts off): settings with the
 * typed phrase, endpoints and backend, users and tokens, the audit log and the status page. Every change is checked
 * through the API afterwards, and in the audit log as the API shows it.
 */
const PHRASE_REFUSAL = "Enabling netbox_to_proxmox_enabled requires typedConfirmation to be exactly 'allow-edit-and-add-actions'.";

describe('administrators\' pages (/ui) in a browser', () => {
  const ui = browserSuite({ enableIntent: false });
  const { signedIn } = ui;
  const api = async (path: string) => (await ui.stack.call(ui.stack.tokens.admin, 'GET', path)).body;
  const csrfOf = async (page: Page) => (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;

  it('turns the master flag on only with the typed phrase; a user without manage_settings reads the settings and cannot change them', async () => {
    const { page } = await signedIn('admin', ui.stack.tokens.admin);
    await page.goto(`${ui.stack.api}/ui/settings`);
    expect(await page.getByRole('alert').textContent()).toContain('Intent master flag is disabled.');
    await expectAccessible(page, 'settings (intent off)');
    await screenshot(page, 'settings');

    await page.getByLabel('netbox_to_proxmox_enabled: apply merged branches to Proxmox').check();
    await page.getByLabel('Typed confirmation phrase').fill('allow-edit-and-add-action');
    expect(await submitForm(page, 'Save the settings', '/ui/settings')).toBe(422);
    expect(await page.getByRole('alert').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining(PHRASE_REFUSAL)]));
    expect((await api('/api/v1/settings')).netboxToProxmoxEnabled).toBe(false);
    await expectAccessible(page, 'settings (refused)');

    // A TTL below one day is refused by the API's own schema.
    await page.getByLabel('Deletion request TTL (days)').fill('0');
    expect(await submitForm(page, 'Save the settings', '/ui/settings')).toBe(422);
    expect(await page.getByRole('alert').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('deletionRequestTtlDays')]));

    await page.getByLabel('Deletion request TTL (days)').fill('5');
    await page.getByLabel('netbox_to_proxmox_enabled: apply merged branches to Proxmox').check();
    await page.getByLabel('Typed confirmation phrase').fill('allow-edit-and-add-actions');
    expect(await submitForm(page, 'Save the settings', '/ui/settings')).toBe(303);
    expect(page.url()).toBe(`${ui.stack.api}/ui/settings?saved=1`);
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(await api('/api/v1/settings')).toMatchObject({ netboxToProxmoxEnabled: true, typedConfirmationSet: true, deletionRequestTtlDays: 5 });

    // carol holds only `view`: the values, no form; her own session, her own CSRF token, a forged POST: 403, nothing changed.
    const { context: carolContext, page: carol } = await signedIn('carol', ui.stack.tokens.carol);
    await carol.goto(`${ui.stack.api}/ui/settings`);
    expect(await carol.locator('dl.facts').textContent()).toContain('Deletion request TTL5 days');
    expect(await carol.getByRole('button', { name: 'Save the settings' }).count()).toBe(0);
    expect(await carol.getByText('changing them needs the manage_settings permission').count()).toBe(1);
    await expectAccessible(carol, 'settings (read-only)');
    const forged = await fetch(`${ui.stack.api}/ui/settings`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: await cookieHeader(carolContext), origin: ui.stack.api },
      body: new URLSearchParams({ _csrf: await csrfOf(carol), deletionRequestTtlDays: '1' }),
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('permission denied: this page requires &#39;manage_settings&#39;');
    expect(await api('/api/v1/settings')).toMatchObject({ netboxToProxmoxEnabled: true, deletionRequestTtlDays: 5 });
  }, 120_000);

  it('shows the backend without its key, toggles an endpoint\'s allowWrites, adds and removes an endpoint', async () => {
    const { page } = await signedIn('admin', ui.stack.tokens.admin);
    await page.goto(`${ui.stack.api}/ui/endpoints`);
    const html = await page.content();
    expect(html).not.toContain(PROXBOX_KEY);
    expect(await page.locator('dl.facts').textContent()).toContain('API keyset');
    expect(await page.getByLabel('API key').inputValue()).toBe('');
    const lab = () => api('/api/v1/proxmox-endpoints').then((b) => b.items.find((e: { name: string }) => e.name === 'lab'));
    expect((await lab()).allowWrites).toBe(true);

    expect(await submitForm(page, 'Block writes to lab', `/ui/endpoints/${(await lab()).id}/allow-writes`)).toBe(303);
    expect(await page.getByRole('status').first().textContent()).toContain('writes to lab blocked');
    expect((await lab()).allowWrites).toBe(false);
    expect(await submitForm(page, 'Allow writes to lab', `/ui/endpoints/${(await lab()).id}/allow-writes`)).toBe(303);
    expect((await lab()).allowWrites).toBe(true);
    await expectAccessible(page, 'endpoints');
    await screenshot(page, 'endpoints');

    await Promise.all([page.waitForURL(`${ui.stack.api}/ui/endpoints/new`), page.getByRole('link', { name: 'Add an endpoint…' }).click()]);
    await page.getByLabel('Name').fill('lab');
    await page.getByLabel('proxbox-api endpoint id').fill('2');
    await page.getByLabel('Clusters').fill('edge-a, edge-b');
    await page.getByLabel('Default bridge').fill('vmbr1');
    expect(await submitForm(page, 'Add the endpoint', '/ui/endpoints')).toBe(409);
    expect(await page.getByRole('alert').textContent()).toContain('An endpoint with this name already exists.');
    await expectAccessible(page, 'endpoint form (refused)');
    await page.getByLabel('Name').fill('edge');
    expect(await submitForm(page, 'Add the endpoint', '/ui/endpoints')).toBe(303);
    const edge = (await api('/api/v1/proxmox-endpoints')).items.find((e: { name: string }) => e.name === 'edge');
    expect(edge).toMatchObject({ backendEndpointId: 2, clusters: ['edge-a', 'edge-b'], defaultBridge: 'vmbr1', allowWrites: false, isDefault: false });

    await Promise.all([page.waitForURL(`${ui.stack.api}/ui/endpoints/${edge.id}/edit`), page.getByRole('link', { name: 'Edit edge' }).click()]);
    expect(await submitForm(page, 'Remove the endpoint', `/ui/endpoints/${edge.id}/delete`)).toBe(422);
    await page.getByLabel('I want to remove endpoint edge').check();
    expect(await submitForm(page, 'Remove the endpoint', `/ui/endpoints/${edge.id}/delete`)).toBe(303);
    expect((await api('/api/v1/proxmox-endpoints')).items.map((e: { name: string }) => e.name)).toEqual(['lab']);
  }, 120_000);

  it('creates a user and a token shown once; revoking the token ends the session opened with it; the audit log shows it all', async () => {
    const { page } = await signedIn('admin', ui.stack.tokens.admin);
    await page.goto(`${ui.stack.api}/ui/users`);
    await page.getByLabel('Username').fill('dave');
    await page.getByLabel('view', { exact: true }).check();
    expect(await submitForm(page, 'Add the user', '/ui/users')).toBe(303);
    expect(page.url()).toBe(`${ui.stack.api}/ui/users/dave?done=user%20created`);
    expect((await api('/api/v1/users')).items.find((u: { username: string }) => u.username === 'dave')).toMatchObject({ permissions: ['view'] });
    await page.getByLabel('trigger_apply', { exact: true }).check();
    expect(await submitForm(page, 'Save the permissions', '/ui/users/dave/permissions')).toBe(303);
    expect((await api('/api/v1/users')).items.find((u: { username: string }) => u.username === 'dave').permissions.sort()).toEqual(['trigger_apply', 'view']);

    await page.getByLabel('Description').fill('ui laptop');
    expect(await submitForm(page, 'Create the token', '/ui/users/dave/tokens')).toBe(201);
    const token = (await page.locator('#new-token-value').textContent())!;
    expect(token).toMatch(/^pbi_/);
    await expectAccessible(page, 'token created');
    // Shown once: the user's page lists the token without it.
    await page.goto(`${ui.stack.api}/ui/users/dave`);
    expect(await page.content()).not.toContain(token);
    expect(await page.locator('#tokens + table, #tokens ~ table').first().textContent()).toContain('ui laptop');

    const { page: dave } = await signedIn('dave', token);
    expect(await dave.locator('header').textContent()).toContain('Signed in as dave');
    await page.reload();
    expect(await page.getByText('No live session.').count()).toBe(0);
    await expectAccessible(page, 'user');

    const [listed] = (await ui.stack.call(ui.stack.tokens.admin, 'GET', '/api/v1/users/dave/tokens')).body.items;
    expect(await submitForm(page, `Revoke token ${listed.id}`, `/ui/users/dave/tokens/${listed.id}/revoke`)).toBe(303);
    expect((await ui.stack.call(ui.stack.tokens.admin, 'GET', '/api/v1/users/dave/tokens')).body.items[0].state).toBe('revoked');
    await dave.reload();
    expect(new URL(dave.url()).pathname).toBe('/ui/sign-in');

    // A second sign-in of dave with a fresh token, ended by "End every session".
    const second = (await ui.stack.call(ui.stack.tokens.admin, 'POST', '/api/v1/users/dave/tokens', { description: 'second' })).body.token as string;
    const { page: dave2 } = await signedIn('dave', second);
    await page.goto(`${ui.stack.api}/ui/users/dave`);
    expect(await submitForm(page, 'End every session of dave', '/ui/users/dave/sessions/revoke')).toBe(303);
    expect(page.url()).toContain('1%20session(s)%20ended');
    await dave2.reload();
    expect(new URL(dave2.url()).pathname).toBe('/ui/sign-in');

    await page.goto(`${ui.stack.api}/ui/users`);
    await expectAccessible(page, 'users');
    await screenshot(page, 'users');

    // The audit log: the page's changes, recorded as the API records them (same actor, actions and masked changes).
    await page.goto(`${ui.stack.api}/ui/audit-log?actor=admin`);
    const shown = await page.locator('tbody').textContent();
    for (const action of ['settings.update', 'endpoint.update', 'endpoint.create', 'endpoint.delete', 'user.create', 'user.update', 'token.create', 'token.revoke', 'session.revoke']) {
      expect(shown, action).toContain(action);
    }
    expect(shown).not.toContain(token);
    const viaApi = (await ui.stack.call(ui.stack.tokens.admin, 'GET', '/api/v1/audit-log?actor=admin&limit=100')).body.items as { action: string; target: string; changes: unknown }[];
    expect(viaApi.find((r) => r.action === 'settings.update')!.changes).toMatchObject({
      netboxToProxmoxEnabled: { from: false, to: true }, typedConfirmation: { from: null, to: 'allow-edit-and-add-actions' } });
    expect(viaApi.filter((r) => r.action === 'endpoint.update').map((r) => r.changes)).toEqual([
      { allowWrites: { from: false, to: true } }, { allowWrites: { from: true, to: false } }]);
    expect(JSON.stringify(viaApi)).not.toContain(token);
    await expectAccessible(page, 'audit log');
    await screenshot(page, 'audit-log');

    await page.goto(`${ui.stack.api}/ui/audit-log?actor=admin&action=token`);
    expect(await page.locator('tbody tr').count()).toBe(viaApi.filter((r) => r.action.startsWith('token.')).length);
    await page.goto(`${ui.stack.api}/ui/audit-log?since=yesterday`);
    expect(await page.getByRole('alert').textContent()).toContain('since');
    // carol holds neither manage_users nor manage_settings.
    const { page: carol } = await signedIn('carol', ui.stack.tokens.carol);
    expect((await carol.goto(`${ui.stack.api}/ui/audit-log`))!.status()).toBe(403);
    expect((await carol.goto(`${ui.stack.api}/ui/users`))!.status()).toBe(403);
  }, 150_000);

  it('shows on the status page that a worker polls, what answers, the capabilities and the write gates', async () => {
    const { page } = await signedIn('carol', ui.stack.tokens.carol);
    await expect.poll(async () => {
      await page.goto(`${ui.stack.api}/ui/status`);
      return page.locator('dl.facts').first().textContent();
    }, { timeout: 60_000, interval: 2_000 }).toContain('A worker pollsyes');
    const text = await page.locator('main').textContent();
    expect(text).toContain('Register deletionsyes');
    expect(text).toContain('1 of 1 endpoint(s) take writes');
    await expectAccessible(page, 'status');
    await screenshot(page, 'status');

    // A closed gate appears in the problems list in the status answer's own sentence.
    const lab = (await ui.stack.call(ui.stack.tokens.admin, 'GET', '/api/v1/proxmox-endpoints')).body.items[0];
    expect((await ui.stack.call(ui.stack.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${lab.id}`, { allowWrites: false })).status).toBe(200);
    try {
      await expect.poll(async () => {
        await page.goto(`${ui.stack.api}/ui/status`);
        return page.locator('.callout').first().textContent();
      }, { timeout: 30_000, interval: 2_000 }).toContain(
        'writes_disabled_for_endpoint: writes_disabled_for_endpoint: endpoint "lab" (lab-cluster, 5): allowWrites is off here (PATCH /api/v1/proxmox-endpoints/{id}).');
      expect(await page.locator('main').textContent()).toContain('0 of 1 endpoint(s) take writes');
    } finally {
      await ui.stack.call(ui.stack.tokens.admin, 'PATCH', `/api/v1/proxmox-endpoints/${lab.id}`, { allowWrites: true });
    }
  }, 90_000);
});
