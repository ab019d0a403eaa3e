import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DEMO } from '../../simulators/netbox';
import { MESSAGES, SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from '../../domain/messages';
import { browserSuite, cookieHeader, expectAccessible, screenshot } from '../support/browser';
import { getRequest, requestDeletion, settled, type RequestView } from '../support/deletion-requests';
import { eventually } from '../support/stack';

/** What a refused decision must leave as it was (the history gains the refused attempt, nothing else moves). */
const DECISION_FIELDS = ['state', 'reason', 'reasonCode', 'authorizer', 'confirmedBy', 'decidedAt', 'executedAt', 'finishedAt'] as const;
const decisionOf = (r: RequestView) => Object.fromEntries(DECISION_FIELDS.map((k) => [k, r[k]]));

/**
 * The deletion request pages and the plan page in a real browser against the whole stack: the four-eyes refusals
 * inline in the guide's words, approve → destroyed, reject with and without a reason, no permission → no buttons and
 * a forged form refused; the plan of the demo branch and a blocked plan.
 */
describe('deletion requests and plans (/ui) in a browser', () => {
  const ui = browserSuite();
  const { signedIn } = ui;
  const detailUrl = (id: number) => `${ui.stack.api}/ui/deletion-requests/${id}`;
  /** Submits one of the detail page's forms and waits for the answer page (a redirect on success, the same form's URL on a refusal). */
  async function submit(page: Page, button: string, after: string | RegExp) {
    await Promise.all([page.waitForURL(after, { timeout: 60_000 }), page.getByRole('button', { name: button }).click({ timeout: 60_000 })]);
  }

  it('shows the demo branch\'s plan, then refuses the merger\'s approval and a wrong VMID inline, and lets a second authorizer approve the destroy', async () => {
    const { branch } = ui.stack.netbox.buildDemoBranch({ name: 'ui-deletions-demo' });

    const { page: alice } = await signedIn('alice');
    await alice.goto(`${ui.stack.api}/ui/plans`);
    await expectAccessible(alice, 'plans form');
    await alice.getByLabel('Branch id').fill(String(branch.id));
    await Promise.all([alice.waitForURL(`${ui.stack.api}/ui/branches/${branch.id}/plan`), alice.getByRole('button', { name: 'Show the plan' }).click()]);
    expect(await alice.getByRole('heading', { level: 1 }).textContent()).toBe('Plan of branch ui-deletions-demo');
    expect(await alice.getByRole('status').first().textContent()).toContain('Merge permitted');
    const rows = await alice.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(4);
    const row = (name: string) => rows.find((r) => r.includes(name)) ?? '';
    expect(row('web-03')).toMatch(/create.*qemu.*312.*pve01/);
    expect(row('old-app-02')).toMatch(/delete.*lxc.*190.*pve02/);
    expect(row('cache-01')).toMatch(/create.*lxc.*320/);
    for (const r of rows) expect(r).toMatch(/#\d+/);
    expect(await alice.locator('dl.facts').textContent()).toMatch(/Intent enabled\s*yes.*Opted in\s*yes.*Destroy confirmed\s*yes/s);
    await expectAccessible(alice, 'plan');
    await screenshot(alice, 'plan');
    // The old HTML address sends the browser to the same page.
    await alice.goto(`${ui.stack.api}/api/v1/branches/${branch.id}/plan-summary?actor=bob`);
    expect(alice.url()).toBe(`${ui.stack.api}/ui/branches/${branch.id}/plan?actor=bob`);
    expect(await alice.locator('dl.facts').textContent()).toContain('checked for bob');

    await ui.stack.netbox.mergeBranch(branch.id, 'alice');
    const request = await eventually(async () => {
      const r = (await ui.stack.call(ui.stack.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${branch.id}`)).body.items[0] as RequestView | undefined;
      return r?.state === 'pending' && r.taggedPendingDeletion ? r : undefined;
    }, 'the demo branch\'s deletion request');
    expect(request).toMatchObject({ vmid: 190, kind: 'lxc', name: 'old-app-02', requestedBy: 'alice' });

    await alice.goto(`${ui.stack.api}/ui/deletion-requests`);
    expect(await alice.locator('#pending + table').textContent()).toContain('old-app-02');
    expect(await alice.locator('#pending + table').textContent()).toMatch(/in \d+ days? \(/);
    await expectAccessible(alice, 'deletion requests');
    await Promise.all([alice.waitForURL(detailUrl(request.id)), alice.getByRole('link', { name: `#${request.id}` }).first().click()]);

    // alice merged, so the request is hers: refused, shown inline in the guide's words, nothing changed.
    await alice.getByLabel('Type the VMID to approve').fill('190');
    await submit(alice, 'Approve the deletion', `${detailUrl(request.id)}/approve`);
    expect(await alice.getByRole('alert').textContent()).toContain(SELF_APPROVAL_BLOCKED);
    expect(decisionOf(await getRequest(ui.stack, request.id))).toEqual(decisionOf(request));

    const { page: bob } = await signedIn('bob');
    expect(await bob.locator('#awaiting + table').getByRole('link', { name: `#${request.id}` }).getAttribute('href')).toBe(`/ui/deletion-requests/${request.id}`);
    await bob.goto(detailUrl(request.id));
    await bob.getByLabel('Type the VMID to approve').fill('191');
    await submit(bob, 'Approve the deletion', `${detailUrl(request.id)}/approve`);
    expect(await bob.getByRole('alert').textContent()).toContain(VMID_MISMATCH);
    const afterRefusals = await getRequest(ui.stack, request.id);
    expect(decisionOf(afterRefusals)).toEqual(decisionOf(request));
    expect(afterRefusals.history.slice(request.history.length)).toEqual([
      expect.objectContaining({ actor: 'alice', action: 'approve', outcome: 'refused', detail: SELF_APPROVAL_BLOCKED }),
      expect.objectContaining({ actor: 'bob', action: 'approve', outcome: 'refused', detail: VMID_MISMATCH }),
    ]);
    // Not a number: the form says so, and nothing at all is recorded.
    await bob.getByLabel('Type the VMID to approve').fill('one-ninety');
    await submit(bob, 'Approve the deletion', `${detailUrl(request.id)}/approve`);
    expect(await bob.getByRole('alert').textContent()).toContain('Type the VMID of the guest');
    expect((await getRequest(ui.stack, request.id)).history).toHaveLength(afterRefusals.history.length);

    await bob.getByLabel('Type the VMID to approve').fill('190');
    await submit(bob, 'Approve the deletion', `${detailUrl(request.id)}?done=approved`);
    expect(await bob.getByRole('status').first().textContent()).toContain('Approved');
    const done = await settled(ui.stack, request.id);
    expect(done).toMatchObject({ state: 'succeeded', authorizer: 'bob' });
    expect(ui.stack.proxbox.cluster.getGuest(190)).toBeUndefined();
    await bob.reload();
    const facts = await bob.locator('dl.facts').textContent();
    expect(facts).toMatch(/State\s*succeeded/);
    expect(facts).toMatch(/Decided by\s*bob, /);
    expect(facts).toContain('lxc 190 old-app-02 on node pve02');
    expect(await bob.getByRole('link', { name: 'Open the run in the Temporal UI' }).getAttribute('href')).toContain(encodeURIComponent(request.workflowId));
    expect(await bob.getByRole('link', { name: done.applyJobId.slice(0, 8) }).getAttribute('href')).toBe(`/ui/apply-jobs/${done.applyJobId}`);
    const history = await bob.locator('#history + table').textContent();
    expect(history).toContain(SELF_APPROVAL_BLOCKED);
    expect(history).toContain(VMID_MISMATCH);
    expect(await bob.locator('#snapshot + table').textContent()).toContain('old-app-02');
    expect(await bob.getByRole('button', { name: 'Approve the deletion' }).count()).toBe(0);
    await expectAccessible(bob, 'deletion request (succeeded)');
    await screenshot(bob, 'deletion-request');
  }, 180_000);

  it('rejects only with a reason: without one the form says so inline and nothing changes', async () => {
    const { request } = await requestDeletion(ui.stack, { vmid: 961, name: 'ui-reject-961', node: 'pve01', kind: 'qemu' });
    const { page } = await signedIn('bob');
    await page.goto(detailUrl(request.id));
    await expectAccessible(page, 'deletion request (pending)');
    await submit(page, 'Reject the request', `${detailUrl(request.id)}/reject`);
    expect(await page.getByRole('alert').textContent()).toContain('The reason is required');
    await page.getByLabel('Reason for rejecting').fill('   ');
    await submit(page, 'Reject the request', `${detailUrl(request.id)}/reject`);
    expect(await page.getByRole('alert').textContent()).toContain('The reason is required');
    await page.getByLabel('Reason for rejecting').fill('x'.repeat(256));
    await submit(page, 'Reject the request', `${detailUrl(request.id)}/reject`);
    expect(await page.getByRole('alert').textContent()).toContain('at most 255 characters');
    const unchanged = await getRequest(ui.stack, request.id);
    expect(decisionOf(unchanged)).toEqual(decisionOf(request));
    expect(unchanged.history).toEqual(request.history);

    await page.getByLabel('Reason for rejecting').fill('still serves the old API clients');
    await submit(page, 'Reject the request', `${detailUrl(request.id)}?done=rejected`);
    const rejected = await settled(ui.stack, request.id);
    expect(rejected).toMatchObject({ state: 'rejected', authorizer: 'bob', reason: expect.stringContaining('still serves the old API clients') });
    expect(await page.locator('dl.facts').textContent()).toMatch(/State\s*rejected/);
    expect(ui.stack.proxbox.cluster.getGuest(961)).toBeTruthy();
  }, 120_000);

  it('shows no action to a user without the permission and refuses her forged form (403, nothing changed)', async () => {
    const { request } = await requestDeletion(ui.stack, { vmid: 962, name: 'ui-forged-962', node: 'pve01', kind: 'qemu' });
    const { context, page } = await signedIn('carol');
    await page.goto(detailUrl(request.id));
    expect(await page.locator('dl.facts').textContent()).toMatch(/State\s*pending/);
    expect(await page.getByRole('button', { name: /Approve|Reject|Confirm/ }).count()).toBe(0);
    await expectAccessible(page, 'deletion request (read-only)');
    const csrf = (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;
    const forged = await fetch(`${detailUrl(request.id)}/approve`, {
      method: 'POST', redirect: 'manual', body: new URLSearchParams({ _csrf: csrf, vmid: '962' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: await cookieHeader(context), origin: ui.stack.api },
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('permission');
    const after = await getRequest(ui.stack, request.id);
    expect(decisionOf(after)).toEqual(decisionOf(request));
    expect(after.history.slice(request.history.length)).toEqual([expect.objectContaining({ actor: 'carol', action: 'approve', outcome: 'refused' })]);

    // By now: this one pending, one rejected, one destroyed.
    await page.goto(`${ui.stack.api}/ui/deletion-requests`);
    expect(await page.locator('#pending + table tbody tr').count()).toBe(1);
    expect(await page.locator('#decided + table').textContent()).toMatch(/rejected.*succeeded/s);
    await expectAccessible(page, 'deletion requests (pending and decided)');
    await screenshot(page, 'deletion-requests');
    await page.goto(`${ui.stack.api}/ui/deletion-requests?vmid=962`);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await page.goto(`${ui.stack.api}/ui/deletion-requests?state=bogus`);
    expect(await page.getByRole('alert').textContent()).toContain("Unknown state 'bogus'");
  }, 120_000);

  it('shows a blocked plan with the guide\'s sentence', async () => {
    const branch = ui.stack.netbox.createBranch({ name: 'ui-blocked', owner: 'bob', customFields: { apply_to_proxmox: true } });
    ui.stack.netbox.deleteVm(branch.id, DEMO.vms.db01);
    ui.stack.netbox.createVm(branch.id, { name: '<b>x</b>', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: 963, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' } });
    const { page } = await signedIn('carol');
    await page.goto(`${ui.stack.api}/ui/branches/${branch.id}/plan`);
    const banner = await page.getByRole('alert').first().textContent();
    expect(banner).toContain('Merge blocked');
    expect(banner).toContain(MESSAGES.destroyNotConfirmed);
    expect(await page.locator('dl.facts').textContent()).toMatch(/Destroy confirmed\s*no/);
    // Names are text, never markup.
    expect(await page.locator('tbody').textContent()).toContain('<b>x</b>');
    expect(await page.locator('tbody b').count()).toBe(0);
    await expectAccessible(page, 'plan (blocked)');

    const missing = await page.goto(`${ui.stack.api}/ui/branches/999999/plan`);
    expect(missing!.status()).toBe(404);
    expect(await page.getByRole('alert').textContent()).toContain('NetBox has no branch 999999.');
    await page.goto(`${ui.stack.api}/ui/plans?branchId=abc`);
    expect(await page.getByRole('alert').textContent()).toContain('positive whole number');
  });
});
