import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIRMATION_PHRASE, SELF_APPROVAL_PHRASE } from '../../domain/settings';
import { startStack, type Stack } from '../support/stack';

/** The master flag's typed phrase through the API: no call can switch intent on without it (api.md "Settings"). */
describe('settings: the master flag and its typed phrase', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ enableIntent: false }); });
  afterAll(async () => { await s?.stop(); });

  const get = async () => (await s.call(s.tokens.carol, 'GET', '/api/v1/settings')).body;
  const put = (body: unknown, token = s.tokens.admin) => s.call(token, 'PUT', '/api/v1/settings', body);
  const DETAIL = `Enabling netbox_to_proxmox_enabled requires typedConfirmation to be exactly '${CONFIRMATION_PHRASE}'.`;

  async function expectRefused(body: unknown) {
    const before = await get();
    const res = await put(body);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body).toEqual({
      type: 'https://proxbox-intent.dev/problems/typed_confirmation_required', title: 'Unprocessable Content', status: 422,
      code: 'typed_confirmation_required', detail: DETAIL,
    });
    expect(await get()).toEqual(before);
  }

  it('starts disabled, with the documented defaults and without the phrase', async () => {
    expect(await get()).toEqual({
      netboxToProxmoxEnabled: false, typedConfirmationSet: false, selfApproveAllowed: false, deletionRequestTtlDays: 7, warnPlaintextPassword: true, tokenLifetimeDays: null,
      deletionReminderLeadHours: 24,
    });
  });

  it('refuses to switch on without the phrase or with a wrong one, and changes nothing, not even the other fields', async () => {
    await expectRefused({ netboxToProxmoxEnabled: true });
    for (const wrong of ['', 'allow-edit-and-add-action', 'Allow-Edit-And-Add-Actions', ` ${CONFIRMATION_PHRASE}`, `${CONFIRMATION_PHRASE} `, 'yes']) {
      await expectRefused({ netboxToProxmoxEnabled: true, typedConfirmation: wrong });
    }
    await expectRefused({ netboxToProxmoxEnabled: true, deletionRequestTtlDays: 3, selfApproveAllowed: true });
    expect((await get()).deletionRequestTtlDays).toBe(7);
  });

  it('403 without manage_settings, 401 without a token: nothing changes', async () => {
    const denied = await put({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, s.tokens.carol);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('permission_denied');
    const anonymous = await fetch(`${s.api}/api/v1/settings`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }),
    });
    expect(anonymous.status).toBe(401);
    expect((await get()).netboxToProxmoxEnabled).toBe(false);
  });

  it('switches on with the exact phrase, never returns it, and keeps it for later changes', async () => {
    const on = await put({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ netboxToProxmoxEnabled: true, typedConfirmationSet: true });
    expect(JSON.stringify(on.body)).not.toContain(CONFIRMATION_PHRASE);
    const other = await put({ selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE });
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ netboxToProxmoxEnabled: true, typedConfirmationSet: true, selfApproveAllowed: true });
    // While on, a wrong phrase is still a refusal.
    await expectRefused({ netboxToProxmoxEnabled: true, typedConfirmation: 'nope' });
  });

  it('switching off clears the phrase, and switching on again needs it again', async () => {
    const off = await put({ netboxToProxmoxEnabled: false });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ netboxToProxmoxEnabled: false, typedConfirmationSet: false });
    await expectRefused({ netboxToProxmoxEnabled: true });
    // An off switch that carries the phrase still stores none.
    expect((await put({ netboxToProxmoxEnabled: false, typedConfirmation: CONFIRMATION_PHRASE })).body).toMatchObject({ typedConfirmationSet: false });
    await expectRefused({ netboxToProxmoxEnabled: true });
    expect((await put({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE })).body).toMatchObject({ netboxToProxmoxEnabled: true, typedConfirmationSet: true });
  });

  it('rejects invalid fields with a 422 validation problem and changes nothing', async () => {
    const before = await get();
    for (const body of [{ deletionRequestTtlDays: 0 }, { netboxToProxmoxEnabled: 'yes' }, { typedConfirmationSet: true }, { unknown: 1 }]) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
    expect(await get()).toEqual(before);
  });
});
