import { Hono } from 'hono';
import type { SettingsStore } from '../../db/settings';
import { SettingsChange, type IntentSettings } from '../../domain/settings';
import { requirePermission, type AuthEnv } from '../auth';
import { problem } from '../problem';
import { validate } from '../validation';

export function settingsView(s: IntentSettings) {
  return {
    netboxToProxmoxEnabled: s.netboxToProxmoxEnabled,
    typedConfirmationSet: s.typedConfirmation !== null,
    selfApproveAllowed: s.selfApproveAllowed,
    deletionRequestTtlDays: s.deletionRequestTtlDays,
    warnPlaintextPassword: s.warnPlaintextPassword,
  };
}

export function settingsRoutes(store: SettingsStore) {
  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), async (c) => c.json(settingsView(await store.get())))
    .put('/', requirePermission('manage_settings'), validate('json', SettingsChange), async (c) => {
      const decision = await store.update(c.req.valid('json'), c.get('user').username);
      if (!decision.ok) return problem(c, 422, decision.code, decision.detail);
      return c.json(settingsView(decision.settings));
    });
}
