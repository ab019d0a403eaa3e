/** `netbox prepare`: creates the intent custom fields NetBox lacks, and changes nothing else there. */
import type { NetboxClient } from '../clients/netbox';
import { UpstreamError } from '../clients/errors';
import {
  INTENT_CUSTOM_FIELDS, customFieldCreateBody, planCustomFields, type CustomFieldPlanItem, type IntentCustomField,
} from '../domain/intent-custom-fields';

export type PreparedField = CustomFieldPlanItem & (
  | { outcome: 'created' | 'would_create' | 'present' | 'differs' }
  | { outcome: 'failed'; error: string }
);

export interface PrepareResult {
  fields: PreparedField[];
  /** Nothing failed and no existing field is unusable: NetBox holds (or, after a dry run, would hold) every field. */
  ready: boolean;
}

/**
 * Reads the definitions by name, then creates each missing field with one POST. An existing field is never changed,
 * even when it differs: that is reported for a person to decide. A 400 for one field does not stop the others; a
 * NetBox that refuses the token or does not answer stops the run.
 */
export async function prepareNetbox(netbox: NetboxClient, opts: { dryRun: boolean; table?: readonly IntentCustomField[] }): Promise<PrepareResult> {
  const table = opts.table ?? INTENT_CUSTOM_FIELDS;
  const existing = await netbox.customFields({ name: table.map((f) => f.name) });
  const plan = planCustomFields(table, existing.map((cf) => ({
    name: cf.name, type: cf.type.value, objectTypes: cf.object_types ?? [], ...(cf.ui_editable ? { uiEditable: cf.ui_editable.value } : {}),
  })));
  const fields: PreparedField[] = [];
  for (const item of plan) {
    if (item.action !== 'create') { fields.push({ ...item, outcome: item.action }); continue; }
    if (opts.dryRun) { fields.push({ ...item, outcome: 'would_create' }); continue; }
    try {
      await netbox.createCustomField(customFieldCreateBody(item.field));
      fields.push({ ...item, outcome: 'created' });
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.kind !== 'rejected') throw err;
      fields.push({ ...item, outcome: 'failed', error: err.message });
    }
  }
  return { fields, ready: fields.every((f) => f.outcome !== 'failed' && f.outcome !== 'differs') };
}
