import { Hono } from 'hono';
import type { SettingsStore } from '../../db/settings';
import { SettingsChange, type IntentSettings } from '../../domain/settings';
import { actorOf, requirePermission, type AuthEnv } from '../auth';
import { refusalProblem } from '../refusal-status';
import { validate } from '../validation';

export function settingsView(s: IntentSettings) {
  return {
    netboxToProxmoxEnabled: s.netboxToProxmoxEnabled,
    typedConfirmationSet: s.typedConfirmation !== null,
    selfApproveAllowed: s.selfApproveAllowed,
    deletionRequestTtlDays: s.deletionRequestTtlDays,
    warnPlaintextPassword: s.warnPlaintextPassword,
    tokenLifetimeDays: s.tokenLifetimeDays,
  };
}

export function settingsRoutes(store: SettingsStore) {
  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), async (c) => c.json(settingsView(await store.get())))
    .put('/', requirePermission('manage_settings'), validate('json', SettingsChange), async (c) => {
      const decision = await store.update(c.req.valid('json'), actorOf(c));
      if (!decision.ok) return refusalProblem(c, decision);
      return c.json(settingsView(decision.settings));
    });
}
