/**
 * `npm run cli -- netbox prepare` and `user sync-from-netbox`, run as processes against the NetBox simulator over HTTP
 * and a fresh PostgreSQL database (issue 13 §4, §5).
 */
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../db/audit-log';
import { openDatabase, type Database } from '../../db/client';
import { UserStore } from '../../db/users';
import { INTENT_CUSTOM_FIELDS } from '../../domain/intent-custom-fields';
import { createFreshDatabase } from '../../infra/scratch-database';
import { createNetboxSimulator, type NetboxSimulator } from '../../simulators/netbox';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'nbt_simkey.simtoken';

let sim: NetboxSimulator;
let netboxUrl: string;
let fresh: Awaited<ReturnType<typeof createFreshDatabase>>;
let database: Database;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'cli/main.ts', ...args], {
      cwd: REPO, timeout: 60_000,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: fresh.url, NETBOX_URL: netboxUrl, NETBOX_TOKEN: TOKEN, ...env },
    }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const writes = () => sim.control.calls.filter((c) => c.method !== 'GET');

beforeAll(async () => {
  sim = createNetboxSimulator();
  netboxUrl = (await sim.listen(0)).url;
  fresh = await createFreshDatabase('netbox_cli');
  database = await openDatabase({ url: fresh.url, maxConnections: 2 });
});
afterAll(async () => {
  await sim?.close();
  await database?.close();
  await fresh?.drop();
});
beforeEach(() => { sim.reset(); sim.control.clearCalls(); });

describe('netbox prepare', () => {
  it('dry run prints what it would create and changes nothing; the run creates exactly that; a second run creates nothing', async () => {
    for (const name of ['apply_destroy_confirmed', 'proxmox_node', 'proxbox_intent_state']) sim.removeCustomField(name);

    const dry = await cli(['netbox', 'prepare', '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would create  apply_destroy_confirmed (boolean on netbox_branching.branch)');
    expect(dry.stdout).toContain('would create  proxmox_node (text on virtualization.virtualmachine)');
    expect(dry.stdout).toContain('present       proxmox_vm_id');
    expect(dry.stdout).toContain(`dry run: nothing was changed; 3 to create, ${INTENT_CUSTOM_FIELDS.length - 3} present, 0 differ, 0 failed`);
    expect(writes()).toEqual([]);
    expect(sim.customFieldByName('proxmox_node')).toBeUndefined();

    const run = await cli(['netbox', 'prepare']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`3 created, ${INTENT_CUSTOM_FIELDS.length - 3} present, 0 differ, 0 failed`);
    expect(writes().map((c) => [c.method, c.path, (c.body as { name: string }).name])).toEqual([
      ['POST', '/api/extras/custom-fields/', 'apply_destroy_confirmed'],
      ['POST', '/api/extras/custom-fields/', 'proxmox_node'],
      ['POST', '/api/extras/custom-fields/', 'proxbox_intent_state'],
    ]);
    expect(sim.customFieldByName('apply_destroy_confirmed')).toMatchObject({ type: 'boolean', objectTypes: ['netbox_branching.branch'], label: 'Destroy confirmed', uiVisible: 'always' });
    expect(sim.customFieldByName('proxbox_intent_state')).toMatchObject({ type: 'text', uiVisible: 'hidden', uiEditable: 'hidden' });

    sim.control.clearCalls();
    const again = await cli(['netbox', 'prepare']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`0 created, ${INTENT_CUSTOM_FIELDS.length} present, 0 differ, 0 failed`);
    expect(writes()).toEqual([]);
  });

  it('reports a field of another type or object type, leaves it alone, still creates the rest, and exits 1', async () => {
    sim.removeCustomField('proxmox_vm_id');
    sim.addCustomField({ name: 'proxmox_vm_id', type: 'text', objectTypes: ['virtualization.virtualmachine'], label: 'VMID (by hand)' });
    sim.removeCustomField('proxmox_storage');
    sim.addCustomField({ name: 'proxmox_storage', type: 'text', objectTypes: ['dcim.device'] });
    sim.removeCustomField('cloud_init_ssh_keys');
    sim.addCustomField({ name: 'cloud_init_ssh_keys', type: 'text', objectTypes: ['virtualization.virtualmachine'] });
    sim.removeCustomField('proxmox_iso');
    // As proxbox's reflection registers its fields: hidden and not editable.
    sim.removeCustomField('proxmox_template_vmid');
    sim.addCustomField({ name: 'proxmox_template_vmid', type: 'integer', objectTypes: ['virtualization.virtualmachine'], uiVisible: 'hidden', uiEditable: 'hidden' });

    const run = await cli(['netbox', 'prepare']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('DIFFERS       proxmox_vm_id: type is text, expected integer; left unchanged, fix it in NetBox');
    expect(run.stdout).toContain('DIFFERS       proxmox_storage: not assigned to virtualization.virtualmachine (assigned to dcim.device); left unchanged');
    expect(run.stdout).toContain('present       cloud_init_ssh_keys: type is text (expected longtext; it works)');
    expect(run.stdout).toContain("present       proxmox_template_vmid: not editable in NetBox's UI (ui_editable hidden); set it to Yes so people can fill it in");
    expect(run.stdout).toContain('created       proxmox_iso');
    expect(run.stdout).toContain(`1 created, ${INTENT_CUSTOM_FIELDS.length - 3} present, 2 differ, 0 failed`);
    expect(writes().map((c) => (c.body as { name: string }).name)).toEqual(['proxmox_iso']);
    expect(sim.customFieldByName('proxmox_vm_id')).toMatchObject({ type: 'text', label: 'VMID (by hand)' });

    const dry = await cli(['netbox', 'prepare', '--dry-run']);
    expect(dry.code).toBe(1);
  });

  it('exits 1 with NetBox\'s reason when NetBox refuses, and 2 when NetBox is not configured', async () => {
    const refused = await cli(['netbox', 'prepare'], { NETBOX_TOKEN: 'nbt_wrong.token' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('NetBox refused GET /api/extras/custom-fields/ (403): Invalid v2 token');
    const unset = await cli(['netbox', 'prepare'], { NETBOX_URL: '' });
    expect(unset.code).toBe(2);
    expect(unset.stderr).toBe('error: NETBOX_URL and NETBOX_TOKEN must be set for this command\n');
    expect(writes()).toEqual([]);
  });
});

describe('user sync-from-netbox', () => {
  it('creates active NetBox users missing here with the given permissions and no token, audited; reports drift; never writes NetBox', async () => {
    const users = new UserStore(database.db);
    await users.create('carol', ['view']);
    await users.create('shim-view', ['view']);
    sim.addUser({ username: 'alice' });
    sim.addUser({ username: 'Carol' });
    sim.addUser({ username: 'gone', isActive: false });
    for (let i = 0; i < 3; i++) sim.addUser({ username: `batch-${i}` });

    const dry = await cli(['user', 'sync-from-netbox', '--dry-run', '--perm', 'view'], { NETBOX_PAGE_SIZE: '2' });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout.split('\n')).toEqual([
      'would create  admin (view)', 'would create  alice (view)', 'would create  batch-0 (view)', 'would create  batch-1 (view)', 'would create  batch-2 (view)',
      "not created   Carol: differs only in case from 'carol' here; names must match exactly",
      'not created   gone: inactive in NetBox',
      'drift         carol exists here but is not in NetBox; left as it is',
      'drift         shim-view exists here but is not in NetBox; left as it is',
      'dry run: nothing was changed; 5 to create, 0 matched, 2 not created, 2 only here', '',
    ]);
    expect((await users.list()).map((u) => u.username)).toEqual(['carol', 'shim-view']);

    const run = await cli(['user', 'sync-from-netbox', '--perm', 'view', '--perm', 'intent_create_vm'], { NETBOX_PAGE_SIZE: '2' });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('created  alice (view, intent_create_vm)');
    expect(run.stdout).toContain('5 created, 0 matched, 2 not created, 2 only here');
    expect((await users.list()).map((u) => [u.username, u.permissions])).toEqual([
      ['admin', ['intent_create_vm', 'view']], ['alice', ['intent_create_vm', 'view']], ['batch-0', ['intent_create_vm', 'view']],
      ['batch-1', ['intent_create_vm', 'view']], ['batch-2', ['intent_create_vm', 'view']], ['carol', ['view']], ['shim-view', ['view']],
    ]);
    expect(await users.listTokens('alice')).toEqual([]);
    const actor = `cli:${userInfo().username}`;
    const audited = await new AuditLog(database.db).list({ actor, limit: 50 });
    expect(audited.map((a) => [a.action, a.target]).sort()).toEqual(['admin', 'alice', 'batch-0', 'batch-1', 'batch-2'].map((u) => ['user.create', `user:${u}`]));
    expect(writes()).toEqual([]);
    expect(sim.control.calls.filter((c) => c.path === '/api/users/users/').map((c) => c.query.offset)).toEqual(['0', '2', '4', '6', '0', '2', '4', '6']);

    const again = await cli(['user', 'sync-from-netbox']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 created, 5 matched, 2 not created, 2 only here');
    expect((await users.get('alice'))?.permissions).toEqual(['intent_create_vm', 'view']);
  });

  it('refuses an unknown permission before reading anything', async () => {
    const bad = await cli(['user', 'sync-from-netbox', '--perm', 'everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown permission 'everything'");
    expect(sim.control.calls).toEqual([]);
  });
});
