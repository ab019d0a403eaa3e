import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SELF_APPROVAL_BLOCKED } from '../../domain/messages';
import { browserSuite, expectAccessible, signIn } from '../support/browser';
import { getRequest, requestDeletion, settled } from '../support/deletion-requests';
import type { Stack } from '../support/stack';

/**
 * Confirm manual destroy in a browser, against proxbox-api as it is today (no POST /intent/deletion-requests): an
 * approved request fails backend_cannot_register_deletion; the form appears only there; the service believes the
 * cluster, not the confirmer.
 */
describe('confirming a manual destroy on the deletion request page', () => {
  const ui = browserSuite({ capabilities: { registerDeletion: false, taskStatus: true } });
  const { pageFor } = ui;
  async function signedIn(user: keyof Stack['tokens']): Promise<Page> {
    const { page } = await pageFor();
    await signIn(page, ui.stack.api, user, ui.stack.tokens[user]);
    return page;
  }

  it('offers the confirmation only after backend_cannot_register_deletion, refuses while the guest exists and to the requester, then closes the request', async () => {
    const { request } = await requestDeletion(ui.stack, { vmid: 971, name: 'ui-confirm-971', node: 'pve01', kind: 'qemu' });
    const detail = `${ui.stack.api}/ui/deletion-requests/${request.id}`;
    const bob = await signedIn('bob');
    await bob.goto(detail);
    expect(await bob.getByRole('button', { name: 'Confirm manual destroy' }).count()).toBe(0);
    await bob.getByLabel('Type the VMID to approve').fill('971');
    await Promise.all([bob.waitForURL(`${detail}?done=approved`), bob.getByRole('button', { name: 'Approve the deletion' }).click()]);
    const failed = await settled(ui.stack, request.id);
    expect(failed).toMatchObject({ state: 'failed', reasonCode: 'backend_cannot_register_deletion' });
    await ui.stack.system.temporal.workflow.getHandle(request.workflowId).result();

    await bob.reload();
    expect(await bob.locator('dl.facts').textContent()).toContain('backend_cannot_register_deletion: proxbox-api offers no deletion-request records');
    const confirm = async (page: Page, vmid: string, after: string) => {
      await page.getByLabel('Type the VMID to confirm it is destroyed').fill(vmid);
      await Promise.all([page.waitForURL(after, { timeout: 60_000 }), page.getByRole('button', { name: 'Confirm manual destroy' }).click()]);
    };
    // The guest is still on the cluster: refused in the service's words, nothing changed.
    await confirm(bob, '971', `${detail}/confirm-destroyed`);
    expect(await bob.getByRole('alert').textContent()).toContain('The cluster still lists qemu 971 ui-confirm-971 on node pve01');
    expect((await getRequest(ui.stack, request.id)).state).toBe('failed');
    await expectAccessible(bob, 'deletion request (confirmable)');

    ui.stack.proxbox.cluster.removeGuest(971);
    const alice = await signedIn('alice');
    await alice.goto(detail);
    await confirm(alice, '971', `${detail}/confirm-destroyed`);
    expect(await alice.getByRole('alert').textContent()).toContain(SELF_APPROVAL_BLOCKED);
    expect((await getRequest(ui.stack, request.id)).state).toBe('failed');

    await confirm(bob, '971', `${detail}?done=confirmed`);
    const closed = await getRequest(ui.stack, request.id);
    expect(closed).toMatchObject({ state: 'succeeded', reasonCode: 'manually_destroyed', confirmedBy: 'bob' });
    const facts = await bob.locator('dl.facts').textContent();
    expect(facts).toMatch(/State\s*succeeded/);
    expect(facts).toMatch(/Confirmed destroyed by\s*bob/);
    expect(await bob.getByRole('button', { name: 'Confirm manual destroy' }).count()).toBe(0);
    expect(await bob.locator('#history + table').textContent()).toContain('confirm destroyed');
  }, 180_000);
});
