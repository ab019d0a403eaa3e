import { z } from 'zod';

export const CONFIRMATION_PHRASE = 'allow-edit-and-add-actions';
/** Typed as `selfApprovalConfirmation` to turn `selfApproveAllowed` on (turning it off needs nothing). */
export const SELF_APPROVAL_PHRASE = 'allow-self-approval';

export interface IntentSettings {
  netboxToProxmoxEnabled: boolean;
  typedConfirmation: string | null;
  selfApproveAllowed: boolean;
  deletionRequestTtlDays: number;
  warnPlaintextPassword: boolean;
  /** Lifetime of new API tokens in days; null: no expiry unless the token's creator sets one. */
  tokenLifetimeDays: number | null;
  /** Hours before a pending deletion request expires that its reminder goes to the notification destinations. */
  deletionReminderLeadHours: number;
}

export const DEFAULT_SETTINGS: IntentSettings = {
  netboxToProxmoxEnabled: false,
  typedConfirmation: null,
  selfApproveAllowed: false,
  deletionRequestTtlDays: 7,
  warnPlaintextPassword: true,
  tokenLifetimeDays: null,
  deletionReminderLeadHours: 24,
};

export const SettingsChange = z.strictObject({
  netboxToProxmoxEnabled: z.boolean().optional(),
  typedConfirmation: z.string().max(200).optional(),
  selfApproveAllowed: z.boolean().optional(),
  deletionRequestTtlDays: z.number().int().min(1).max(3650).optional(),
  warnPlaintextPassword: z.boolean().optional(),
  selfApprovalConfirmation: z.string().max(200).optional(),
  tokenLifetimeDays: z.number().int().min(1).max(3650).nullable().optional(),
  deletionReminderLeadHours: z.number().int().min(1).max(24 * 365).optional(),
});
export type SettingsChange = z.infer<typeof SettingsChange>;

export type SettingsDecision =
  | { ok: true; settings: IntentSettings }
  | { ok: false; code: 'typed_confirmation_required' | 'self_approval_confirmation_required' | 'self_approval_change_blocked'; detail: string };

/** What the self-approval rule needs to know about who asks for the change. */
export interface SettingsChangeContext {
  /** Pending deletion requests made by the actor or by anyone in the issuer chain of the actor's token. */
  pendingRequestsOfActor: number;
}

/**
 * The settings rules. Master flag: switching intent on needs the exact phrase, switching it off clears the phrase,
 * and the flag is only ever "on" together with the stored phrase. Self-approval: switching it on needs its own phrase
 * and is refused to anyone it would benefit right away (a pending request of theirs); switching it off is always allowed.
 */
export function applySettingsChange(current: IntentSettings, change: SettingsChange, context: SettingsChangeContext = { pendingRequestsOfActor: 0 }): SettingsDecision {
  const flag = masterFlagChange(current, change);
  if (!flag.ok) return flag;
  const selfApproval = selfApprovalRefusal(current, change, context);
  if (selfApproval) return selfApproval;
  const next: IntentSettings = { ...current, ...flag.value };
  if (change.selfApproveAllowed !== undefined) next.selfApproveAllowed = change.selfApproveAllowed;
  if (change.deletionRequestTtlDays !== undefined) next.deletionRequestTtlDays = change.deletionRequestTtlDays;
  if (change.warnPlaintextPassword !== undefined) next.warnPlaintextPassword = change.warnPlaintextPassword;
  if (change.tokenLifetimeDays !== undefined) next.tokenLifetimeDays = change.tokenLifetimeDays;
  if (change.deletionReminderLeadHours !== undefined) next.deletionReminderLeadHours = change.deletionReminderLeadHours;
  return { ok: true, settings: next };
}

type FlagState = Pick<IntentSettings, 'netboxToProxmoxEnabled' | 'typedConfirmation'>;

function masterFlagChange(current: IntentSettings, change: SettingsChange): { ok: true; value: FlagState } | Extract<SettingsDecision, { ok: false }> {
  const wantEnabled = change.netboxToProxmoxEnabled ?? current.netboxToProxmoxEnabled;
  if (!wantEnabled) return { ok: true, value: { netboxToProxmoxEnabled: false, typedConfirmation: null } };
  const turningOn = !current.netboxToProxmoxEnabled;
  const phrase = change.typedConfirmation ?? (turningOn ? undefined : current.typedConfirmation ?? undefined);
  if (phrase !== CONFIRMATION_PHRASE) {
    return {
      ok: false,
      code: 'typed_confirmation_required',
      detail: `Enabling netbox_to_proxmox_enabled requires typedConfirmation to be exactly '${CONFIRMATION_PHRASE}'.`,
    };
  }
  return { ok: true, value: { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE } };
}

function selfApprovalRefusal(current: IntentSettings, change: SettingsChange, context: SettingsChangeContext): Extract<SettingsDecision, { ok: false }> | null {
  if (change.selfApproveAllowed !== true || current.selfApproveAllowed) return null;
  if (change.selfApprovalConfirmation !== SELF_APPROVAL_PHRASE) {
    return {
      ok: false, code: 'self_approval_confirmation_required',
      detail: `Allowing self-approval requires selfApprovalConfirmation to be exactly '${SELF_APPROVAL_PHRASE}'.`,
    };
  }
  if (context.pendingRequestsOfActor > 0) {
    return {
      ok: false, code: 'self_approval_change_blocked',
      detail: `Self-approval cannot be allowed by someone it would benefit: ${context.pendingRequestsOfActor} deletion request(s) of yours (or of whoever issued your token) are pending. Another administrator must change it, or wait until they are decided.`,
    };
  }
  return null;
}

/** The flag counts as on only with the phrase stored beside it (a row edited by hand cannot switch intent on). */
export function intentEnabled(s: Pick<IntentSettings, 'netboxToProxmoxEnabled' | 'typedConfirmation'>): boolean {
  return s.netboxToProxmoxEnabled && s.typedConfirmation === CONFIRMATION_PHRASE;
}
