import { z } from 'zod';

export const CONFIRMATION_PHRASE = 'allow-edit-and-add-actions';

export interface IntentSettings {
  netboxToProxmoxEnabled: boolean;
  typedConfirmation: string | null;
  selfApproveAllowed: boolean;
  deletionRequestTtlDays: number;
  warnPlaintextPassword: boolean;
}

export const DEFAULT_SETTINGS: IntentSettings = {
  netboxToProxmoxEnabled: false,
  typedConfirmation: null,
  selfApproveAllowed: false,
  deletionRequestTtlDays: 7,
  warnPlaintextPassword: true,
};

export const SettingsChange = z.strictObject({
  netboxToProxmoxEnabled: z.boolean().optional(),
  typedConfirmation: z.string().max(200).optional(),
  selfApproveAllowed: z.boolean().optional(),
  deletionRequestTtlDays: z.number().int().min(1).max(3650).optional(),
  warnPlaintextPassword: z.boolean().optional(),
});
export type SettingsChange = z.infer<typeof SettingsChange>;

export type SettingsDecision =
  | { ok: true; settings: IntentSettings }
  | { ok: false; code: 'typed_confirmation_required'; detail: string };

/**
 * The master-flag rules: switching intent on needs the exact phrase, switching it off clears the phrase,
 * and the flag is only ever "on" together with the stored phrase.
 */
export function applySettingsChange(current: IntentSettings, change: SettingsChange): SettingsDecision {
  const next: IntentSettings = { ...current };
  if (change.selfApproveAllowed !== undefined) next.selfApproveAllowed = change.selfApproveAllowed;
  if (change.deletionRequestTtlDays !== undefined) next.deletionRequestTtlDays = change.deletionRequestTtlDays;
  if (change.warnPlaintextPassword !== undefined) next.warnPlaintextPassword = change.warnPlaintextPassword;

  const wantEnabled = change.netboxToProxmoxEnabled ?? current.netboxToProxmoxEnabled;
  if (!wantEnabled) {
    next.netboxToProxmoxEnabled = false;
    next.typedConfirmation = null;
    return { ok: true, settings: next };
  }
  const turningOn = !current.netboxToProxmoxEnabled;
  const phrase = change.typedConfirmation ?? (turningOn ? undefined : current.typedConfirmation ?? undefined);
  if (phrase !== CONFIRMATION_PHRASE) {
    return {
      ok: false,
      code: 'typed_confirmation_required',
      detail: `Enabling netbox_to_proxmox_enabled requires typedConfirmation to be exactly '${CONFIRMATION_PHRASE}'.`,
    };
  }
  next.netboxToProxmoxEnabled = true;
  next.typedConfirmation = CONFIRMATION_PHRASE;
  return { ok: true, settings: next };
}

/** The flag counts as on only with the phrase stored beside it (a row edited by hand cannot switch intent on). */
export function intentEnabled(s: Pick<IntentSettings, 'netboxToProxmoxEnabled' | 'typedConfirmation'>): boolean {
  return s.netboxToProxmoxEnabled && s.typedConfirmation === CONFIRMATION_PHRASE;
}
