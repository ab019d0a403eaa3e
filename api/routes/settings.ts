import type { SettingsStore } from '../../db/settings';
import { SettingsChange, type IntentSettings } from '../../domain/settings';
import { actorOf } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { refusalProblem } from '../refusal-status';

export function settingsView(s: IntentSettings) {
  return {
    netboxToProxmoxEnabled: s.netboxToProxmoxEnabled,
    typedConfirmationSet: s.typedConfirmation !== null,
    selfApproveAllowed: s.selfApproveAllowed,
    deletionRequestTtlDays: s.deletionRequestTtlDays,
    warnPlaintextPassword: s.warnPlaintextPassword,
    tokenLifetimeDays: s.tokenLifetimeDays,
    deletionReminderLeadHours: s.deletionReminderLeadHours,
  };
}

export const settingsRouteDefs = {
  show: createRoute({
    method: 'get', path: '/', summary: 'Intent settings', ...guarded(['view']),
    responses: { 200: { description: 'The settings' }, ...problems(...AUTHENTICATED, 403) },
  }),
  change: createRoute({
    method: 'put', path: '/', summary: 'Change settings (the master flag and self-approval each need their typed phrase)', ...guarded(['manage_settings']),
    request: { body: jsonBody(SettingsChange) }, responses: { 200: { description: 'The settings as changed' }, ...problems(...AUTHENTICATED, ...WITH_BODY, 403) },
  }),
};

export function settingsRoutes(store: SettingsStore) {
  return router()
    .openapi(settingsRouteDefs.show, async (c) => c.json(settingsView(await store.get()), 200))
    .openapi(settingsRouteDefs.change, async (c) => {
      const decision = await store.update(c.req.valid('json'), actorOf(c));
      if (!decision.ok) return refusalProblem(c, decision);
      return c.json(settingsView(decision.settings), 200);
    });
}
