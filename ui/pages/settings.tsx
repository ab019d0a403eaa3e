import { CONFIRMATION_PHRASE, SELF_APPROVAL_PHRASE, intentEnabled, type IntentSettings } from '../../domain/settings';
import { MESSAGES } from '../../domain/messages';
import { Callout, RefusalCallout } from '../components/callout';
import { CheckboxField, Field, PostForm } from '../components/form';
import { Layout } from '../components/layout';
import type { PageUser } from '../context';

/** What the form sent back, shown again after a refusal (never the stored phrase). */
export interface SettingsFormValues {
  netboxToProxmoxEnabled: boolean; selfApproveAllowed: boolean; warnPlaintextPassword: boolean;
  deletionRequestTtlDays: string; tokenLifetimeDays: string; deletionReminderLeadHours: string;
}

export const formValuesOf = (s: IntentSettings): SettingsFormValues => ({
  netboxToProxmoxEnabled: s.netboxToProxmoxEnabled, selfApproveAllowed: s.selfApproveAllowed, warnPlaintextPassword: s.warnPlaintextPassword,
  deletionRequestTtlDays: String(s.deletionRequestTtlDays), tokenLifetimeDays: s.tokenLifetimeDays === null ? '' : String(s.tokenLifetimeDays),
  deletionReminderLeadHours: String(s.deletionReminderLeadHours),
});

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The guide's red warning: shown while intent is off, gone after a valid save with the phrase. */
function MasterFlagWarning() {
  return (
    <Callout tone="bad" title={`${MESSAGES.masterFlagDisabled}.`}>
      <p>Nothing is applied to Proxmox while it is off. Leave it disabled until the branch, endpoint, worker, and RBAC
        prerequisites are complete. Enabling it requires typing <code>{CONFIRMATION_PHRASE}</code> exactly; disabling it
        clears the phrase, and re-enabling requires typing it again.</p>
    </Callout>
  );
}

export function SettingsPage(props: { user: PageUser; csrfToken: string; settings: IntentSettings; mayChange: boolean; values?: SettingsFormValues;
  refusal?: { code: string; detail: string } | undefined; notice?: string | undefined }) {
  const { settings: s } = props;
  const v = props.values ?? formValuesOf(s);
  return (
    <Layout title="Settings" user={props.user} csrfToken={props.csrfToken} current="/ui/settings">
      {props.notice && <Callout tone="ok"><p>{props.notice}</p></Callout>}
      {!intentEnabled(s) && <MasterFlagWarning />}
      {props.refusal && <RefusalCallout refusal={props.refusal} title="The settings were not changed" />}
      <dl class="facts" aria-label="Current settings">
        <dt>Intent master flag</dt><dd>{intentEnabled(s) ? 'on' : 'off'}{s.typedConfirmation !== null && ' (typed phrase set)'}</dd>
        <dt>Self-approval allowed</dt><dd>{yesNo(s.selfApproveAllowed)}</dd>
        <dt>Deletion request TTL</dt><dd>{s.deletionRequestTtlDays} days</dd>
        <dt>Reminder before a deletion request expires</dt><dd>{s.deletionReminderLeadHours} hours</dd>
        <dt>Warn on plaintext passwords</dt><dd>{yesNo(s.warnPlaintextPassword)}</dd>
        <dt>New token lifetime</dt><dd>{s.tokenLifetimeDays === null ? 'no expiry unless set per token' : `${s.tokenLifetimeDays} days`}</dd>
      </dl>
      {props.mayChange ? (
        <>
          <h2 id="change">Change the settings</h2>
          <PostForm action="/ui/settings" csrfToken={props.csrfToken} class="stack">
            <CheckboxField id="netboxToProxmoxEnabled" label="netbox_to_proxmox_enabled: apply merged branches to Proxmox" checked={v.netboxToProxmoxEnabled}
              hint="Master switch for the intent direction." />
            <Field id="typedConfirmation" label="Typed confirmation phrase" autocomplete="off"
              hint={`Required to turn the master flag on: type ${CONFIRMATION_PHRASE} exactly. Turning the flag off clears it.`} />
            <CheckboxField id="selfApproveAllowed" label="Allow a deletion requester to approve their own request" checked={v.selfApproveAllowed}
              hint="Should stay off outside a single-operator lab." />
            <Field id="selfApprovalConfirmation" label="Self-approval confirmation phrase" autocomplete="off"
              hint={`Required to allow self-approval: type ${SELF_APPROVAL_PHRASE} exactly.`} />
            <Field id="deletionRequestTtlDays" label="Deletion request TTL (days)" type="number" value={v.deletionRequestTtlDays} required
              hint="A pending deletion request expires after this many days (at least 1)." />
            <Field id="deletionReminderLeadHours" label="Reminder lead time (hours)" type="number" value={v.deletionReminderLeadHours} required
              hint="The notification destinations hear of a pending deletion request this long before it expires (at least 1)." />
            <CheckboxField id="warnPlaintextPassword" label="Warn when a cloud-init password is in plaintext" checked={v.warnPlaintextPassword} />
            <Field id="tokenLifetimeDays" label="Lifetime of new API tokens (days)" type="number" value={v.tokenLifetimeDays}
              hint="Empty: new tokens do not expire unless their creator sets a date." />
            <div><button type="submit">Save the settings</button></div>
          </PostForm>
        </>
      ) : <p class="muted">You can read these settings; changing them needs the manage_settings permission.</p>}
    </Layout>
  );
}
