import { describe, expect, it } from 'vitest';
import { browserSuite, submitForm, expectAccessible, screenshot } from '../support/browser';
import { eventually } from '../support/stack';

/** The notifications page in a real browser: add a destination, send it a test, see the delivery, remove it. */
describe('notifications page (/ui/notifications) in a browser', () => {
  const ui = browserSuite({ env: { NOTIFICATIONS_ALLOW_HTTP: 'true' } });
  const api = async (path: string) => (await ui.stack.call(ui.stack.tokens.admin, 'GET', path)).body;

  it('adds a webhook (refusing one without a secret), sends it a test, lists the delivery and removes it; the secret is never shown', async () => {
    const { page } = await ui.signedIn('admin', ui.stack.tokens.admin);
    await page.goto(`${ui.stack.api}/ui/notifications`);
    await expectAccessible(page, 'notifications (empty)');
    await page.getByLabel('Name').fill('ops');
    await page.getByLabel('URL').fill('http://127.0.0.1:9/hook');
    await page.getByLabel('apply.finished').check();
    expect(await submitForm(page, 'Add the destination', '/ui/notifications')).toBe(422);
    expect(await page.getByRole('alert').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('secret')]));
    await page.getByLabel('Signing secret (webhooks)').fill('a-signing-secret-0123456789');
    expect(await submitForm(page, 'Add the destination', '/ui/notifications')).toBe(303);
    const [ops] = (await api('/api/v1/notification-destinations')).items;
    expect(ops).toMatchObject({ name: 'ops', kind: 'webhook', events: ['apply.finished'], secretSet: true });
    expect(await page.content()).not.toContain('a-signing-secret-0123456789');

    expect(await submitForm(page, 'Send a test to ops', `/ui/notifications/${ops.id}/test`)).toBe(303);
    // Nothing listens on port 9: the delivery is recorded with its failed attempt (generous: on a loaded machine the
    // worker may still be starting, and the first workflow task waits for it).
    await eventually(async () => ((await api(`/api/v1/notification-destinations/${ops.id}/deliveries`)).items[0]?.lastError ? true : undefined), 'the failed attempt', 90_000);
    await page.reload();
    expect(await page.locator('table').last().textContent()).toContain('test');
    await expectAccessible(page, 'notifications (one destination)');
    await screenshot(page, 'notifications');

    expect(await submitForm(page, 'Remove ops', `/ui/notifications/${ops.id}/delete`)).toBe(422);
    await page.getByLabel('I want to remove ops').check();
    expect(await submitForm(page, 'Remove ops', `/ui/notifications/${ops.id}/delete`)).toBe(303);
    expect((await api('/api/v1/notification-destinations')).items).toEqual([]);
  }, 180_000);
});
