/** The NetBox simulator's custom-field and user routes, against NetBox 4.x's serializers (served in-process, no socket). */
import { describe, expect, it } from 'vitest';
import { CustomField, NetboxUser, Paginated } from '../../contracts/netbox';
import { INTENT_CUSTOM_FIELDS } from '../../domain/intent-custom-fields';
import { createNetboxSimulator } from '../../simulators/netbox';

const TOKEN = 'nbt_simkey.simtoken';

function simulator() {
  const sim = createNetboxSimulator({ baseUrl: 'https://netbox.example.com' });
  const call = async (method: string, path: string, body?: unknown, auth: string | null = `Bearer ${TOKEN}`) => {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await sim.app.request(path, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { sim, call };
}

const newField = { name: 'proxmox_cpu_type', object_types: ['virtualization.vminterface'], type: 'text', label: 'Proxmox CPU type', description: 'host' };

describe('custom fields: /api/extras/custom-fields/ (netbox.md §7.2)', () => {
  it('seeds every intent field and finds them by name, a repeated name meaning OR', async () => {
    const { call } = simulator();
    const all = Paginated(CustomField).parse((await call('GET', '/api/extras/custom-fields/?limit=1000')).body);
    expect(all.results.map((cf) => cf.name).sort()).toEqual(INTENT_CUSTOM_FIELDS.map((f) => f.name).sort());
    const two = Paginated(CustomField).parse((await call('GET', '/api/extras/custom-fields/?name=proxmox_vm_id&name=apply_to_proxmox')).body);
    expect(two.results.map((cf) => [cf.name, cf.type, cf.object_types])).toEqual([
      ['apply_to_proxmox', { value: 'boolean', label: 'Boolean (true/false)' }, ['netbox_branching.branch']],
      ['proxmox_vm_id', { value: 'integer', label: 'Integer' }, ['virtualization.virtualmachine']],
    ]);
    const stamp = (await call('GET', '/api/extras/custom-fields/?name=proxbox_intent_state')).body.results[0];
    expect(stamp).toMatchObject({ ui_visible: { value: 'hidden', label: 'Hidden' }, ui_editable: { value: 'hidden', label: 'Hidden' }, data_type: 'string' });
    expect((await call('GET', '/api/extras/custom-fields/?name=nothing_like_it')).body).toMatchObject({ count: 0, results: [] });
  });

  it('creates a field as NetBox does: 201 with the serializer\'s representation, then found by name', async () => {
    const { call } = simulator();
    const created = await call('POST', '/api/extras/custom-fields/', { ...newField, ui_visible: 'if-set', ui_editable: 'no' });
    expect(created.status).toBe(201);
    const cf = CustomField.parse(created.body);
    expect(cf).toMatchObject({
      name: 'proxmox_cpu_type', label: 'Proxmox CPU type', description: 'host', display: 'Proxmox CPU type', object_types: ['virtualization.vminterface'],
      type: { value: 'text', label: 'Text' }, ui_visible: { value: 'if-set', label: 'If set' }, ui_editable: { value: 'no', label: 'No' },
      url: `https://netbox.example.com/api/extras/custom-fields/${cf.id}/`, required: false,
    });
    expect((await call('GET', '/api/extras/custom-fields/?name=proxmox_cpu_type')).body.results).toEqual([created.body]);
    const defaults = await call('POST', '/api/extras/custom-fields/', { name: 'plain_one', object_types: ['virtualization.virtualmachine'], type: 'integer' });
    expect(defaults.body).toMatchObject({ label: '', ui_visible: { value: 'always' }, ui_editable: { value: 'yes' }, data_type: 'integer' });
  });

  it('answers 400 keyed by field, as DRF and CustomField.clean() do, and creates nothing', async () => {
    const { sim, call } = simulator();
    const before = sim.customFields.size;
    const cases: Array<[unknown, Record<string, string[]>]> = [
      [{ ...newField, name: 'proxmox_vm_id' }, { name: ['custom field with this name already exists.'] }],
      [{ name: 'x' }, { type: ['This field is required.'], object_types: ['This field is required.'] }],
      [{ ...newField, type: 'nope' }, { type: ['nope is not a valid choice.'] }],
      [{ ...newField, type: { value: 'text' } }, { type: ['Value must be passed directly (e.g. "foo": 123); do not use a dictionary or list.'] }],
      [{ ...newField, object_types: ['virtualization.nothing'] }, { object_types: ['Invalid content type: virtualization.nothing'] }],
      [{ ...newField, object_types: ['vminterface'] }, { object_types: ["Invalid value. Specify a content type as '<app_label>.<model_name>'."] }],
      [{ ...newField, object_types: 'virtualization.vminterface' }, { object_types: ['Expected a list of items but got type "str".'] }],
      [{ ...newField, name: 'has-dash' }, { name: ['Only alphanumeric characters and underscores are allowed.'] }],
      [{ ...newField, name: 'two__under' }, { name: ['Double underscores are not permitted in custom field names.'] }],
      [{ ...newField, name: '' }, { name: ['This field may not be blank.'] }],
      [{ ...newField, name: 'n'.repeat(51) }, { name: ['Ensure this field has no more than 50 characters.'] }],
      [{ ...newField, ui_visible: 'sometimes' }, { ui_visible: ['sometimes is not a valid choice.'] }],
      [{ ...newField, type: 'select' }, { choice_set: ['Selection fields must specify a set of choices.'] }],
      [[newField], { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] }],
    ];
    for (const [body, errors] of cases) {
      const res = await call('POST', '/api/extras/custom-fields/', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body, JSON.stringify(body)).toEqual(errors);
    }
    expect(sim.customFields.size).toBe(before);
    expect((await call('POST', '/api/extras/custom-fields/', newField, null)).status).toBe(403);
    expect(sim.customFields.size).toBe(before);
  });
});

describe('users: /api/users/users/ (NetBox 4.x UserSerializer)', () => {
  it('lists users with is_active and the serializer\'s fields, never a password, filtered and paginated', async () => {
    const { sim, call } = simulator();
    sim.addUser({ username: 'alice', firstName: 'Alice', lastName: 'Liddell', email: 'alice@example.com' });
    sim.addUser({ username: 'gone', isActive: false });
    const page = (await call('GET', '/api/users/users/?limit=2')).body;
    expect(page).toMatchObject({ count: 3, next: 'https://netbox.example.com/api/users/users/?limit=2&offset=2', previous: null });
    const users = Paginated(NetboxUser).parse((await call('GET', '/api/users/users/')).body).results;
    expect(users.map((u) => [u.username, u.display, u.is_active])).toEqual([
      ['admin', 'admin', true], ['alice', 'alice (Alice Liddell)', true], ['gone', 'gone', false],
    ]);
    const alice = (await call('GET', `/api/users/users/${users[1]!.id}/`)).body;
    expect(Object.keys(alice).sort()).toEqual([
      'date_joined', 'display', 'display_url', 'email', 'first_name', 'groups', 'id', 'is_active', 'last_login', 'last_name', 'permissions', 'url', 'username',
    ]);
    expect(alice).toMatchObject({ email: 'alice@example.com', display_url: `https://netbox.example.com/users/users/${users[1]!.id}/` });
    expect((await call('GET', '/api/users/users/?is_active=false')).body.results.map((u: { username: string }) => u.username)).toEqual(['gone']);
    expect((await call('GET', '/api/users/users/?username=alice')).body.count).toBe(1);
  });

  it('refuses a username that differs from another only in case, as User.clean() does', () => {
    const { sim } = simulator();
    expect(() => sim.addUser({ username: 'Admin' })).toThrow('A user with this username already exists.');
  });
});
