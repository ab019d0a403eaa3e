/**
 * `POST /api/extras/custom-fields/` validation as NetBox 4.x's CustomFieldSerializer answers it: 400 with a body keyed
 * by field (`{"name": ["custom field with this name already exists."]}`), DRF's and NetBox's own sentences.
 */
import { CUSTOM_FIELD_TYPES, OBJECT_KINDS, type CustomFieldType, type NewCustomFieldInput } from './model';

/** Object types with NetBox's `custom_fields` feature that the simulator knows. */
const CUSTOM_FIELD_OBJECT_TYPES: readonly string[] = [
  ...Object.values(OBJECT_KINDS).map((k) => k.objectType), 'netbox_branching.branch', 'virtualization.cluster', 'dcim.device',
  'dcim.devicerole', 'dcim.site', 'tenancy.tenant', 'ipam.ipaddress',
];
const UI_VISIBLE = ['always', 'if-set', 'hidden'] as const;
const UI_EDITABLE = ['yes', 'no', 'hidden'] as const;
const REQUIRED = 'This field is required.';

type Errors = Record<string, string[]>;

export function validateNewCustomField(body: unknown, nameTaken: (name: string) => boolean): { input: NewCustomFieldInput } | { errors: Errors } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { errors: { non_field_errors: [`Invalid data. Expected a dictionary, but got ${Array.isArray(body) ? 'list' : typeof body === 'string' ? 'str' : 'NoneType'}.`] } };
  }
  const b = body as Record<string, unknown>;
  const errors: Errors = {};
  const fail = (field: string, message: string) => { (errors[field] ??= []).push(message); };

  const text = (field: string, max: number, required: boolean): string | undefined => {
    const v = b[field];
    if (v === undefined) { if (required) fail(field, REQUIRED); return undefined; }
    if (typeof v !== 'string') { fail(field, 'Not a valid string.'); return undefined; }
    if (required && !v.trim()) { fail(field, 'This field may not be blank.'); return undefined; }
    if (v.length > max) { fail(field, `Ensure this field has no more than ${max} characters.`); return undefined; }
    return v;
  };
  const choice = <T extends string>(field: string, choices: readonly T[], required: boolean): T | undefined => {
    const v = b[field];
    if (v === undefined) { if (required) fail(field, REQUIRED); return undefined; }
    if (v === '') { fail(field, 'This field may not be blank.'); return undefined; }
    if (typeof v === 'object' && v !== null) { fail(field, 'Value must be passed directly (e.g. "foo": 123); do not use a dictionary or list.'); return undefined; }
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) { fail(field, `${String(v)} is not a valid choice.`); return undefined; }
    return v as T;
  };

  const name = text('name', 50, true);
  if (name !== undefined) {
    if (!/^[a-z0-9_]+$/i.test(name)) fail('name', 'Only alphanumeric characters and underscores are allowed.');
    if (name.includes('__')) fail('name', 'Double underscores are not permitted in custom field names.');
    if (nameTaken(name)) fail('name', 'custom field with this name already exists.');
  }
  const type = choice<CustomFieldType>('type', CUSTOM_FIELD_TYPES, true);
  const label = text('label', 50, false);
  const description = text('description', 200, false);
  const uiVisible = choice('ui_visible', UI_VISIBLE, false);
  const uiEditable = choice('ui_editable', UI_EDITABLE, false);

  const objectTypes: string[] = [];
  const rawTypes = b.object_types;
  if (rawTypes === undefined) fail('object_types', REQUIRED);
  else if (!Array.isArray(rawTypes)) fail('object_types', `Expected a list of items but got type "${typeof rawTypes === 'string' ? 'str' : typeof rawTypes}".`);
  else {
    for (const t of rawTypes) {
      if (typeof t !== 'string' || t.split('.').length !== 2) fail('object_types', "Invalid value. Specify a content type as '<app_label>.<model_name>'.");
      else if (!CUSTOM_FIELD_OBJECT_TYPES.includes(t)) fail('object_types', `Invalid content type: ${t}`);
      else objectTypes.push(t);
    }
  }
  // CustomField.clean(): the simulator keeps no choice sets or related object types.
  if ((type === 'select' || type === 'multiselect') && !b.choice_set) fail('choice_set', 'Selection fields must specify a set of choices.');
  if ((type === 'object' || type === 'multiobject') && !b.related_object_type) fail('related_object_type', 'Object fields must define an object type.');

  if (Object.keys(errors).length || name === undefined || type === undefined) return { errors };
  return {
    input: {
      name, type, objectTypes,
      ...(label !== undefined ? { label } : {}), ...(description !== undefined ? { description } : {}),
      ...(uiVisible ? { uiVisible } : {}), ...(uiEditable ? { uiEditable } : {}),
    },
  };
}
