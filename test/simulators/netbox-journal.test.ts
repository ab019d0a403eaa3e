import { beforeEach, describe, expect, it } from 'vitest';
import { JournalEntry, Paginated, VirtualMachine } from '../../contracts/netbox';
import { DEMO, createNetboxSimulator } from '../../simulators/netbox';

// In process (Hono's app.request): no socket, so these run with the unit tests.
const sim = createNetboxSimulator({ demo: true });
const TOKEN = 'Bearer nbt_simkey.simtoken';
type Loose = any;

async function api(path: string, opts: { method?: string; body?: unknown; auth?: string } = {}): Promise<{ status: number; body: Loose }> {
  const res = await sim.app.request(path, {
    method: opts.method ?? 'GET',
    headers: { Authorization: opts.auth ?? TOKEN, Accept: 'application/json', ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
const post = (body: unknown) => api('/api/extras/journal-entries/', { method: 'POST', body });
const onVm = (over: Record<string, unknown> = {}) => ({
  assigned_object_type: 'virtualization.virtualmachine', assigned_object_id: DEMO.vms.db01, kind: 'success', comments: '**applied**', ...over,
});

beforeEach(() => sim.reset());

describe('NetBox simulator: journal entries (netbox.md §7.6)', () => {
  it('creates an entry on a VM: 201 with id, created, created_by, the kind as a choice and the object nested', async () => {
    const res = await post(onVm());
    expect(res.status).toBe(201);
    const entry = JournalEntry.parse(res.body);
    expect(entry).toMatchObject({
      assigned_object_type: 'virtualization.virtualmachine', assigned_object_id: DEMO.vms.db01, created_by: 1,
      kind: { value: 'success', label: 'Success' }, comments: '**applied**',
    });
    expect(entry.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(res.body.assigned_object).toMatchObject({ id: DEMO.vms.db01, name: 'db-01' });
    expect((await api(`/api/extras/journal-entries/${entry.id}/`)).body).toEqual(res.body);
  });

  it('defaults kind to info and journals on a branch', async () => {
    const branch = sim.createBranch({ name: 'b1' });
    const res = await post({ assigned_object_type: 'netbox_branching.branch', assigned_object_id: branch.id, comments: 'summary' });
    expect(res.status).toBe(201);
    expect(res.body.kind).toEqual({ value: 'info', label: 'Info' });
  });

  it('answers 400 keyed by field for missing, blank and invalid fields, and creates nothing', async () => {
    expect((await post({})).body).toEqual({
      assigned_object_type: ['This field is required.'], assigned_object_id: ['This field is required.'], comments: ['This field is required.'],
    });
    expect((await post(onVm({ comments: '  ' }))).body).toEqual({ comments: ['This field may not be blank.'] });
    expect((await post(onVm({ kind: 'loud' }))).body).toEqual({ kind: ['"loud" is not a valid choice.'] });
    expect((await post(onVm({ assigned_object_type: 'virtualization' }))).status).toBe(400);
    expect((await post(onVm({ assigned_object_id: 'x' }))).body).toEqual({ assigned_object_id: ['A valid integer is required.'] });
    expect(sim.journal.size).toBe(0);
  });

  it('refuses an entry on an object that does not exist in main (a VM the merge deleted)', async () => {
    const res = await post(onVm({ assigned_object_id: 999_999 }));
    expect(res.status).toBe(400);
    expect(res.body.non_field_errors[0]).toMatch(/Invalid assigned_object/);
    expect(sim.journal.size).toBe(0);
  });

  it('lists with filters on the object and kind, newest first, paginated', async () => {
    for (let i = 0; i < 3; i++) await post(onVm({ comments: `vm ${i}` }));
    await post(onVm({ kind: 'danger', comments: 'bad' }));
    const branch = sim.createBranch({ name: 'b2' });
    await post({ assigned_object_type: 'netbox_branching.branch', assigned_object_id: branch.id, comments: 'on branch' });

    const all = Paginated(JournalEntry).parse((await api(`/api/extras/journal-entries/?assigned_object_type=virtualization.virtualmachine&assigned_object_id=${DEMO.vms.db01}`)).body);
    expect(all.count).toBe(4);
    expect(all.results.map((e) => e.comments)).toEqual(['bad', 'vm 2', 'vm 1', 'vm 0']);
    const page = (await api(`/api/extras/journal-entries/?assigned_object_id=${DEMO.vms.db01}&limit=2&offset=2`)).body;
    expect(page.results.map((e: Loose) => e.comments)).toEqual(['vm 1', 'vm 0']);
    expect(page.previous).toContain('limit=2');
    expect((await api('/api/extras/journal-entries/?kind=danger')).body.count).toBe(1);
    expect((await api('/api/extras/journal-entries/?q=on+bra')).body.count).toBe(1);
    expect((await api('/api/extras/journal-entries/?kind=loud')).status).toBe(400);
  });

  it('needs a token', async () => {
    expect((await api('/api/extras/journal-entries/', { method: 'POST', body: onVm(), auth: 'Bearer nope' })).status).toBe(403);
  });
});

describe('NetBox simulator: PATCH of a VM in main (netbox.md §7.6 stamps)', () => {
  const patch = (body: unknown) => api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`, { method: 'PATCH', body });

  it('merges a partial custom_fields object and leaves the other custom fields untouched', async () => {
    const before = VirtualMachine.parse((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`)).body);
    const res = await patch({ custom_fields: { proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'job-1' } });
    expect(res.status).toBe(200);
    const after = VirtualMachine.parse(res.body);
    expect(after.custom_fields).toEqual({ ...before.custom_fields, proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'job-1' });
  });

  it('refuses a custom field that does not exist, and ignores unknown top-level fields', async () => {
    sim.removeCustomField('proxbox_last_apply_run_id');
    const res = await patch({ custom_fields: { proxbox_intent_state: 'applied', proxbox_last_apply_run_id: 'job-1' } });
    expect(res).toEqual({ status: 400, body: { custom_fields: ["Unknown field name 'proxbox_last_apply_run_id' in custom field data."] } });
    expect((await api(`/api/virtualization/virtual-machines/${DEMO.vms.db01}/`)).body.custom_fields.proxbox_intent_state).toBeNull();
    const ignored = await patch({ no_such_field: 1 });
    expect(ignored.status).toBe(200);
    expect(ignored.body).not.toHaveProperty('no_such_field');
  });

  it('answers 404 for a VM that does not exist', async () => {
    expect((await api('/api/virtualization/virtual-machines/999999/', { method: 'PATCH', body: { custom_fields: {} } })).status).toBe(404);
  });
});
