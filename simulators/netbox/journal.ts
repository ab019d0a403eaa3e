/** `/api/extras/journal-entries/` as NetBox 4.x serves it (netbox.md §7.6). */
import type { Context, Hono } from 'hono';
import { JournalKind, OBJECT_TYPE } from '../../contracts/netbox';
import { OBJECT_KINDS, SimulatorError, type JournalEntryRecord, type NetboxModel } from './model';
import type { FilterSpec } from './query';
import type { RestRenderer } from './rest';
import { restTime } from './time';

const KIND_LABELS: Record<JournalEntryRecord['kind'], string> = { info: 'Info', success: 'Success', warning: 'Warning', danger: 'Danger' };
/** The object types the simulator keeps: what the service journals on. */
const JOURNALED: Record<string, { contentTypeId: number; verbose: string }> = {
  [OBJECT_TYPE.virtualMachine]: { contentTypeId: OBJECT_KINDS.vm.contentTypeId, verbose: 'virtualization | virtual machine' },
  [OBJECT_TYPE.branch]: { contentTypeId: 190, verbose: 'netbox_branching | branch' },
};

export interface JournalRouteDeps {
  model: NetboxModel;
  rest(c: Context): RestRenderer;
  list<T>(c: Context, items: T[], specs: Record<string, FilterSpec<T>>, ordering: Record<string, (t: T) => unknown>, defaults: string[],
    pk: (t: T) => number, render: (t: T) => unknown): Response;
}

/** The entry's object as NetBox nests it, or undefined when no such object exists in main. */
function assignedObject(model: NetboxModel, r: RestRenderer, type: string, id: number): Record<string, unknown> | undefined {
  if (type === OBJECT_TYPE.virtualMachine) {
    const vm = model.view(null).get('vm', id);
    return vm && { id: vm.pk, url: r.url(OBJECT_KINDS.vm.restPath, vm.pk), display: String(vm.data.name), name: vm.data.name, description: vm.data.description ?? '' };
  }
  const branch = model.branches.get(id);
  return branch && { id: branch.id, url: r.url('plugins/branching/branches', branch.id), display: branch.name, name: branch.name, description: branch.description };
}

function render(model: NetboxModel, r: RestRenderer, e: JournalEntryRecord): Record<string, unknown> {
  const created = restTime(e.createdUs);
  return {
    id: e.id, url: r.url('extras/journal-entries', e.id), display_url: `${r.base}/extras/journal-entries/${e.id}/`,
    display: `${created.slice(0, 16).replace('T', ' ')} (${KIND_LABELS[e.kind]})`,
    assigned_object_type: e.objectType, assigned_object_id: e.objectId,
    assigned_object: assignedObject(model, r, e.objectType, e.objectId) ?? null,
    created, created_by: e.createdBy, kind: { value: e.kind, label: KIND_LABELS[e.kind] }, comments: e.comments,
    tags: [], custom_fields: {}, last_updated: restTime(e.lastUpdatedUs),
  };
}

/** DRF's validation of a create, field by field, then the serializer's check that the object exists. */
function validate(model: NetboxModel, r: RestRenderer, body: unknown): Omit<JournalEntryRecord, 'id' | 'createdBy' | 'createdUs' | 'lastUpdatedUs'> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new SimulatorError(400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] });
  }
  const b = body as Record<string, unknown>;
  const errors: Record<string, string[]> = {};
  const type = b.assigned_object_type;
  if (type === undefined || type === null) errors.assigned_object_type = ['This field is required.'];
  else if (typeof type !== 'string' || !/^[a-z_]+\.[a-z_]+$/.test(type)) errors.assigned_object_type = ["Invalid value. Specify a content type as '<app_label>.<model_name>'."];
  else if (!JOURNALED[type]) errors.assigned_object_type = [`Invalid content type: ${type}`];
  const id = b.assigned_object_id;
  if (id === undefined || id === null) errors.assigned_object_id = ['This field is required.'];
  else if (!Number.isSafeInteger(typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id) || Number(id) < 0) errors.assigned_object_id = ['A valid integer is required.'];
  const kind = b.kind ?? 'info';
  if (!JournalKind.safeParse(kind).success) errors.kind = [`"${String(kind)}" is not a valid choice.`];
  if (b.comments === undefined || b.comments === null) errors.comments = ['This field is required.'];
  else if (typeof b.comments !== 'string') errors.comments = ['Not a valid string.'];
  else if (!b.comments.trim()) errors.comments = ['This field may not be blank.'];
  if (Object.keys(errors).length) throw new SimulatorError(400, errors);
  const objectId = Number(id);
  if (!assignedObject(model, r, type as string, objectId)) {
    throw new SimulatorError(400, { non_field_errors: [`Invalid assigned_object: ${JOURNALED[type as string]!.verbose} ID ${objectId}`] });
  }
  return { objectType: type as string, objectId, kind: kind as JournalEntryRecord['kind'], comments: b.comments as string };
}

export function journalRoutes(app: Hono, deps: JournalRouteDeps): void {
  const { model } = deps;
  const specs: Record<string, FilterSpec<JournalEntryRecord>> = {
    id: { type: 'number', get: (e) => e.id },
    assigned_object_type: { type: 'exact', caseInsensitive: true, get: (e) => e.objectType },
    assigned_object_type_id: { type: 'number', get: (e) => JOURNALED[e.objectType]?.contentTypeId ?? null },
    assigned_object_id: { type: 'number', get: (e) => e.objectId },
    kind: { type: 'choice', choices: JournalKind.options, get: (e) => e.kind },
    created_by_id: { type: 'number', get: (e) => e.createdBy },
    created: { type: 'datetime', get: (e) => e.createdUs },
    q: { type: 'search', get: (e) => [e.comments] },
  };
  app.get('/extras/journal-entries/', (c) => {
    const r = deps.rest(c);
    return deps.list(c, [...model.journal.values()], specs, { id: (e) => e.id, created: (e) => e.createdUs, kind: (e) => e.kind }, ['-created'],
      (e) => e.id, (e) => render(model, r, e));
  });
  app.get('/extras/journal-entries/:id/', (c) => {
    const entry = model.journal.get(Number(c.req.param('id')));
    if (!entry) throw new SimulatorError(404, { detail: 'No JournalEntry matches the given query.' });
    return c.json(render(model, deps.rest(c), entry));
  });
  app.post('/extras/journal-entries/', async (c) => {
    const r = deps.rest(c);
    const valid = validate(model, r, await c.req.json().catch(() => undefined));
    const now = model.clock.now();
    // The token's user: the simulator's tokens all belong to `admin`.
    const entry: JournalEntryRecord = { id: model.nextId('journalentry'), ...valid, createdBy: 1, createdUs: now, lastUpdatedUs: now };
    model.journal.set(entry.id, entry);
    return c.json(render(model, r, entry), 201);
  });
}
