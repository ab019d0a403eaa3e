import { describe, expect, it } from 'vitest';
import type { ClusterResource, PlanVerdict } from '../../contracts/proxbox-api';
import { planChanges, type PlannedChange } from '../../domain/change-planner';
import { MESSAGES } from '../../domain/messages';
import {
  CHECK_ORDER, UNAVAILABLE, backendPlanRequest, branchingMissingValidation, decideMergeValidation, validateLocally, netboxUnavailableValidation,
  type EndpointLive, type ValidationEndpoint, type MergeValidationInput, type Read,
} from '../../domain/merge-validation';
import { CONFIRMATION_PHRASE } from '../../domain/settings';
import { diff, noLookups, vm } from '../support/change-diffs';

const TEMPLATE = 'local:vztmpl/debian-12.tar.zst';
const ON = { netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE };
const LAB: ValidationEndpoint = { id: 1, name: 'lab', backendEndpointId: 7, allowWrites: true, clusters: ['lab-cluster', '5'], isDefault: false };
const ALL = ['intent_create_vm', 'intent_update_vm', 'intent_delete_vm', 'intent_create_lxc', 'intent_update_lxc', 'intent_delete_lxc'];

const createQemu = (id: number, over: Record<string, unknown> = {}, cf: Record<string, unknown> = {}) =>
  diff('create', id, { modified: vm({ name: `vm-${id}`, ...over }, { proxmox_vm_id: id, ...cf }) });
const createLxc = (id: number, cf: Record<string, unknown> = {}) => diff('create', id, {
  modified: vm({ name: `ct-${id}` }, { proxmox_vm_id: id, proxmox_vm_type: 'lxc', proxmox_node: 'pve02', proxmox_ostemplate: TEMPLATE, ...cf }),
});
const updateQemu = (id: number, vmid: number, patch: Record<string, unknown>, cf: Record<string, unknown> = {}) => {
  const before = vm({ name: `vm-${id}` }, { proxmox_vm_id: vmid, ...cf });
  return diff('update', id, { original: before, modified: { ...before, ...patch } });
};
const deleteLxc = (id: number, vmid: number) => {
  const data = vm({ name: `ct-${id}` }, { proxmox_vm_id: vmid, proxmox_vm_type: 'lxc', proxmox_node: 'pve02' });
  return diff('delete', id, { original: data, current: data });
};
const changes = (...diffs: ReturnType<typeof diff>[]) => planChanges(diffs, [], [], noLookups, { warnPlaintextPassword: true });

function input(cs: PlannedChange[], over: Partial<MergeValidationInput> = {}, branch: Partial<MergeValidationInput['branch']> = {}): MergeValidationInput {
  return {
    branch: { id: 42, schemaId: 'td5smq0f', name: 'b', status: 'ready', optedIn: true, destroyConfirmed: true, ...branch },
    settings: ON, actor: null, actorPermissions: null, backendConfigured: true, endpoints: [LAB], clusterNames: new Map(), changes: cs, ...over,
  };
}

const ok = <T>(value: T): Read<T> => ({ ok: true, value });
const guest = (vmid: number, node: string, type: 'qemu' | 'lxc', extra: Partial<ClusterResource> = {}): ClusterResource =>
  ({ id: `${type}/${vmid}`, type, vmid, node, name: `g${vmid}`, status: 'stopped', ...extra });
const node = (name: string, status = 'online'): ClusterResource => ({ id: `node/${name}`, type: 'node', node: name, status });
const storage = (n: string, s: string): ClusterResource => ({ id: `storage/${n}/${s}`, type: 'storage', node: n, storage: s });
const permitVerdicts = (n: number): PlanVerdict[] => Array.from({ length: n }, () => ({ netbox_id: null, op: 'create' as const, verdict: 'permitted' as const, reason: 'default_permit', message: 'ok' }));

/** proxbox-api's view of the lab cluster: nodes pve01/pve02, local-lvm and local on both, guests 105 (qemu) and 190 (lxc). */
function lab(over: Partial<EndpointLive> = {}, verdicts?: PlanVerdict[]): (keys: number) => EndpointLive {
  return (keys) => ({
    info: ok({ name: 'lab', enabled: true, allowWrites: true }),
    guests: ok([guest(105, 'pve01', 'qemu'), guest(190, 'pve02', 'lxc')]),
    nodes: ok([node('pve01'), node('pve02')]),
    storages: ok(['pve01', 'pve02'].flatMap((n) => [storage(n, 'local-lvm'), storage(n, 'local')])),
    templates: new Map([['pve02/local', ok([TEMPLATE])]]),
    plan: ok(verdicts ?? permitVerdicts(keys)),
    ...over,
  });
}

function plan(i: MergeValidationInput, liveOf = lab()) {
  const local = validateLocally(i);
  const live = new Map(local.backendReads.map((r) => [r.backendEndpointId, liveOf(r.keys.length)] as const));
  return decideMergeValidation(local, live);
}
const verdictsOf = (p: ReturnType<typeof plan>) => p.verdicts.map((v) => `${v.name}:${v.verdict}:${v.reason}`);

describe('plan: global checks, in order', () => {
  it('documents its order', () => {
    expect(CHECK_ORDER).toEqual(['branching', 'master_flag', 'opt_in', 'diffs', 'permission', 'destroy_confirmation', 'backend', 'endpoint', 'preflight', 'backend_plan']);
  });

  it('blocks when netbox-branching is not installed', () => {
    const p = branchingMissingValidation(42, ON, null);
    expect(p).toMatchObject({ permitted: false, message: MESSAGES.branchingMissing, diffs: [], verdicts: [], branch: { id: 42, schemaId: null } });
  });

  it('permits a branch that is not opted in whatever the master flag says: the merge stays NetBox-only', () => {
    for (const settings of [ON, { netboxToProxmoxEnabled: false, typedConfirmation: null }]) {
      const local = validateLocally(input(changes(createQemu(501)), { settings }, { optedIn: false }));
      expect(local.backendReads).toEqual([]);
      const p = decideMergeValidation(local, new Map());
      expect(p).toMatchObject({ permitted: true, message: MESSAGES.notOptedIn, settings: { optedIn: false } });
      expect(verdictsOf(p)).toEqual(['vm-501:skipped:branch_not_opted_in']);
    }
  });

  it('blocks an opted-in branch while the master flag is off, or on without its phrase', () => {
    for (const settings of [{ netboxToProxmoxEnabled: false, typedConfirmation: null }, { netboxToProxmoxEnabled: true, typedConfirmation: null }]) {
      const p = plan(input(changes(createQemu(501)), { settings }));
      expect(p).toMatchObject({ permitted: false, message: MESSAGES.masterFlagDisabled, settings: { enabled: false } });
      expect(p.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'master_flag', reason: 'master_flag_disabled', message: MESSAGES.masterFlagDisabled });
    }
  });

  it('permits a branch without VM diffs and asks proxbox-api nothing', () => {
    const local = validateLocally(input([]));
    expect(local.backendReads).toEqual([]);
    expect(decideMergeValidation(local, new Map())).toMatchObject({ permitted: true, message: expect.stringContaining('no-op for Proxmox'), diffs: [] });
  });

  it('fails closed with the preflight-unavailable sentence when NetBox cannot be read', () => {
    const p = netboxUnavailableValidation(42, ON, null, 'alice', 'NetBox did not answer within 4.5 s');
    expect(p).toMatchObject({
      permitted: false, actor: 'alice', unavailable: { system: 'netbox', detail: 'NetBox did not answer within 4.5 s' },
      message: 'proxbox-intent preflight unavailable: NetBox did not answer within 4.5 s. Retry, or clear apply_to_proxmox.',
    });
  });
});

describe('plan: per-diff gates (the apply\'s own firstClosedGate)', () => {
  it('checks RBAC only when an actor is given, per op and kind, with the permission it lacks', () => {
    const cs = changes(createQemu(501), createLxc(502), updateQemu(805, 105, { vcpus: '4.00' }), deleteLxc(790, 190));
    const without = plan(input(cs));
    expect(without.rbacChecked).toBe(false);
    expect(without.verdicts.map((v) => v.verdict)).not.toContain('blocked');
    const p = plan(input(cs, { actor: 'dave', actorPermissions: ['intent_create_vm', 'view'] }));
    expect(p.rbacChecked).toBe(true);
    expect(verdictsOf(p)).toEqual([
      'vm-501:permitted:checks_passed', 'ct-502:blocked:permission_denied', 'ct-790:blocked:permission_denied', 'vm-805:blocked:permission_denied',
    ]);
    expect(p.verdicts.map((v) => v.message)).toEqual([
      expect.any(String), 'permission denied: intent_create_lxc', 'permission denied: intent_delete_lxc', 'permission denied: intent_update_vm',
    ]);
    expect(p.permitted).toBe(false);
    expect(p.message).toBe('permission denied: intent_create_lxc (ct-502); permission denied: intent_delete_lxc (ct-790); permission denied: intent_update_vm (vm-805)');
    // Blocked diffs are not asked about upstream.
    expect(validateLocally(input(cs, { actor: 'dave', actorPermissions: ['intent_create_vm'] })).backendReads[0]!.keys).toEqual(['vm-501']);
  });

  it('accepts the seed\'s prefixed permission names', () => {
    const p = plan(input(changes(createLxc(502)), { actor: 'dave', actorPermissions: ['netbox_proxbox.intent_create_lxc'] }));
    expect(p.verdicts[0]!.verdict).toBe('permitted');
  });

  it('needs the destroy confirmation for DELETE diffs only', () => {
    const p = plan(input(changes(createQemu(501), deleteLxc(790, 190)), {}, { destroyConfirmed: false }));
    expect(verdictsOf(p)).toEqual(['vm-501:permitted:checks_passed', 'ct-790:blocked:destroy_not_confirmed']);
    expect(p.message).toBe('DELETE diffs require apply_destroy_confirmed=True (ct-790)');
  });

  it('needs a backend, an endpoint for the cluster and writes allowed on it', () => {
    const cs = changes(createQemu(501));
    const noBackend = validateLocally(input(cs, { backendConfigured: false }));
    expect(noBackend.backendReads).toEqual([]);
    expect(decideMergeValidation(noBackend, new Map())).toMatchObject({ permitted: false, message: `${MESSAGES.noBackend} (vm-501)` });
    expect(plan(input(cs, { endpoints: [] })).verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'endpoint', reason: 'no_endpoint_for_cluster' });
    expect(plan(input(cs, { endpoints: [{ ...LAB, allowWrites: false }] })).verdicts[0])
      .toMatchObject({ verdict: 'blocked', check: 'endpoint', reason: 'writes_disabled_for_endpoint', message: MESSAGES.writesDisabled });
  });

  it('routes by cluster name, else the default endpoint', () => {
    const other: ValidationEndpoint = { id: 2, name: 'other', backendEndpointId: 9, allowWrites: true, clusters: [], isDefault: true };
    const byName = validateLocally(input(changes(createQemu(501)), { endpoints: [other, { ...LAB, clusters: ['lab-cluster'] }], clusterNames: new Map([[5, 'lab-cluster']]) }));
    expect(byName.backendReads.map((r) => r.backendEndpointId)).toEqual([7]);
    const fallback = validateLocally(input(changes(createQemu(501, { cluster: 77 })), { endpoints: [other, LAB] }));
    expect(fallback.backendReads.map((r) => r.backendEndpointId)).toEqual([9]);
  });

  it('names the first check that blocks and lists every finding in check order', () => {
    const [c] = changes(createLxc(502, { proxmox_vm_id: 502, proxmox_ostemplate: null }));
    const p = plan(input([c!], { actor: 'dave', actorPermissions: [] }));
    expect(p.verdicts[0]).toMatchObject({ verdict: 'blocked', check: 'permission', reason: 'permission_denied' });
    expect(p.verdicts[0]!.findings.map((f) => `${f.check}:${f.reason}`)).toEqual(['permission:permission_denied', 'preflight:ostemplate_missing']);
  });
});

describe('plan: local pre-flight', () => {
  it('reports the change planner\'s findings: missing VMID, fractional vCPUs, duplicate VMIDs, cloud-init', () => {
    const p = plan(input(changes(
      createQemu(501, { vcpus: '1.50' }), createQemu(502, {}, { proxmox_vm_id: null }),
      createQemu(503, {}, { proxmox_vm_id: 600 }), createQemu(504, {}, { proxmox_vm_id: 600 }),
      createQemu(505, {}, { cloud_init_network: 'dhcp please' }),
    )));
    expect(verdictsOf(p)).toEqual([
      'vm-501:blocked:fractional_vcpus', 'vm-502:blocked:vmid_missing', 'vm-503:blocked:duplicate_vmid', 'vm-504:blocked:duplicate_vmid',
      'vm-505:blocked:cloud_init_network_invalid',
    ]);
  });

  it('warns about a plaintext password in cloud-init user data only when the setting asks for it', () => {
    const d = createQemu(501, {}, { cloud_init_user_data: 'user=local:snippets/password:x.yaml' });
    expect(plan(input(changes(d))).verdicts[0]).toMatchObject({ verdict: 'warning', reason: 'plaintext_password' });
    const quiet = planChanges([d], [], [], noLookups, { warnPlaintextPassword: false });
    expect(plan(input(quiet)).verdicts[0]).toMatchObject({ verdict: 'permitted' });
  });

  it('blocks a payload proxbox-api would refuse with 422 (its own schema)', () => {
    const [c] = changes(createQemu(501));
    const bad = { ...c!, payload: { ...c!.payload!, cloud_init: { dns_servers: ['not-an-ip'] } } } as PlannedChange;
    expect(plan(input([bad])).verdicts[0]).toMatchObject({ verdict: 'blocked', reason: 'payload_rejected_by_backend', message: expect.stringContaining('does not appear to be an IPv4 or IPv6 address') });
  });

  it('skips a VM created and deleted inside the branch and a no-op update, without asking upstream', () => {
    const cs = changes(diff('create', 501, { modified: null }), updateQemu(805, 105, { description: 'NetBox-only text' }));
    const local = validateLocally(input(cs));
    expect(local.backendReads).toEqual([]);
    expect(verdictsOf(decideMergeValidation(local, new Map()))).toEqual(['x:skipped:vanished_in_branch', 'vm-805:skipped:no_op']);
  });
});

describe('plan: live checks against proxbox-api reads', () => {
  it('permits what passes everything and asks /intent/plan with its own vocabulary', () => {
    const cs = changes(createQemu(501), createLxc(502), updateQemu(805, 105, { vcpus: '4.00' }), deleteLxc(790, 190));
    const local = validateLocally(input(cs, { actor: 'alice', actorPermissions: ALL }));
    expect(local.backendReads).toEqual([{ backendEndpointId: 7, keys: ['vm-501', 'vm-502', 'vm-790', 'vm-805'], templates: [{ node: 'pve02', storage: 'local' }] }]);
    expect(backendPlanRequest(local, local.backendReads[0]!)).toEqual({
      endpoint_id: 7, branch_id: 42, actor: 'alice',
      diffs: [
        { op: 'create', kind: 'virtualmachine', netbox_id: 501, name: 'vm-501', proxmox_node: 'pve01', desired_vmid: 501 },
        { op: 'create', kind: 'lxc', netbox_id: 502, name: 'ct-502', proxmox_node: 'pve02', desired_vmid: 502 },
        { op: 'delete', kind: 'lxc', netbox_id: 790, name: 'ct-790', proxmox_node: 'pve02', desired_vmid: 190 },
        { op: 'update', kind: 'virtualmachine', netbox_id: 805, name: 'vm-805', proxmox_node: 'pve01', desired_vmid: 105 },
      ],
    });
    const p = plan(input(cs, { actor: 'alice', actorPermissions: ALL }));
    expect(p).toMatchObject({ permitted: true, message: 'Plan permitted: every check passed', unavailable: null });
    expect(p.summary).toBe('2 create / 1 update / 1 delete; 4 permitted, 0 warning, 0 blocked, 0 skipped');
  });

  it('blocks a create whose VMID is taken, whose node is missing or offline, or whose storage or ostemplate does not exist', () => {
    const cs = changes(
      createQemu(105, { name: 'clash' }), createQemu(502, { name: 'nonode' }, { proxmox_node: 'pve09' }),
      createQemu(503, { name: 'nostore', disk: 8192 }, { proxmox_storage: 'ceph' }), createLxc(504, { proxmox_ostemplate: 'local:vztmpl/nope.tar.zst' }),
      createQemu(505, { name: 'offline' }, { proxmox_node: 'pve03' }),
    );
    const p = plan(input(cs), lab({ nodes: ok([node('pve01'), node('pve02'), node('pve03', 'offline')]) }));
    expect(verdictsOf(p)).toEqual([
      'clash:blocked:vmid_in_use', 'nonode:blocked:node_not_found', 'nostore:blocked:storage_not_found', 'ct-504:blocked:ostemplate_not_found', 'offline:blocked:node_offline',
    ]);
    expect(p.verdicts[0]!.message).toBe('VMID 105 is already used by qemu \'g105\' on pve01');
  });

  it('blocks an update or delete whose guest is missing, moved or of the other kind; warns about a locked guest', () => {
    const cs = changes(
      updateQemu(801, 400, { vcpus: '4.00' }), updateQemu(802, 105, { vcpus: '4.00' }, { proxmox_node: 'pve02' }),
      updateQemu(803, 190, { vcpus: '4.00' }, { proxmox_node: 'pve02' }), deleteLxc(804, 191),
    );
    const p = plan(input(cs), lab({ guests: ok([guest(105, 'pve01', 'qemu'), guest(190, 'pve02', 'lxc'), guest(191, 'pve02', 'lxc', { lock: 'backup' })]) }));
    expect(verdictsOf(p)).toEqual([
      'vm-801:blocked:guest_not_found', 'vm-802:blocked:guest_on_other_node', 'vm-803:blocked:guest_kind_mismatch', 'ct-804:warning:guest_locked',
    ]);
  });

  it('warns when a running guest\'s update touches offline keys, not when it only renames or retags', () => {
    const running = lab({ guests: ok([guest(105, 'pve01', 'qemu', { status: 'running' })]) });
    const p = plan(input(changes(updateQemu(805, 105, { vcpus: '4.00', memory: 8192 }))), running);
    expect(p.verdicts[0]).toMatchObject({ verdict: 'warning', reason: 'update_requires_vm_stop', message: expect.stringContaining('changes cores, memory_mib') });
    expect(p).toMatchObject({ permitted: true, message: expect.stringMatching(/^Plan permitted with 1 warning: vm-805: /) });
    expect(plan(input(changes(updateQemu(805, 105, { tags: ['new'] }))), running).verdicts[0]!.verdict).toBe('permitted');
  });

  it('an offline node blocks an update but only warns for a delete (the destroy waits for approval)', () => {
    const down = lab({ nodes: ok([node('pve01', 'offline'), node('pve02', 'offline')]) });
    expect(verdictsOf(plan(input(changes(updateQemu(805, 105, { vcpus: '4.00' }), deleteLxc(790, 190))), down)))
      .toEqual(['ct-790:warning:node_offline', 'vm-805:blocked:node_offline']);
  });

  it('requires the endpoint to exist, be enabled and allow writes in proxbox-api too', () => {
    const cs = changes(createQemu(501));
    const check = (info: EndpointLive['info']) => plan(input(cs), lab({ info })).verdicts[0];
    expect(check(ok({ name: 'lab', enabled: false, allowWrites: true }))).toMatchObject({ check: 'endpoint', reason: 'endpoint_disabled' });
    expect(check(ok({ name: 'lab', enabled: true, allowWrites: false })))
      .toMatchObject({ check: 'endpoint', reason: 'writes_disabled_for_endpoint', message: expect.stringMatching(/^writes_disabled_for_endpoint: /) });
    expect(check({ ok: false, reason: 'endpoint_not_found', message: 'proxbox-api has no Proxmox endpoint 7', unavailable: false }))
      .toMatchObject({ check: 'endpoint', reason: 'endpoint_not_found' });
  });

  it('fails closed, with the retry sentence, when a proxbox-api read fails or runs out of time', () => {
    const slow: Read<ClusterResource[]> = { ok: false, reason: 'backend_timeout', message: 'proxbox-api did not answer GET /proxmox/cluster/resources?type=vm within 4.5 s', unavailable: true };
    const p = plan(input(changes(createQemu(501))), lab({ guests: slow }));
    expect(p.verdicts[0]).toMatchObject({ verdict: 'blocked', reason: 'backend_unavailable' });
    expect(p).toMatchObject({
      permitted: false, unavailable: { system: 'proxbox-api', detail: slow.message },
      message: UNAVAILABLE(slow.message),
    });
    const planDown = plan(input(changes(createQemu(501))), lab({ plan: { ok: false, reason: 'backend_unavailable', message: 'proxbox-api failed on POST /intent/plan (502)', unavailable: true } }));
    expect(planDown).toMatchObject({ permitted: false, message: UNAVAILABLE('proxbox-api failed on POST /intent/plan (502)') });
  });
});

describe('plan: proxbox-api /intent/plan verdicts', () => {
  it('honours a blocked verdict, shows warnings, and refuses verdicts it cannot correlate', () => {
    const cs = changes(createQemu(501), createQemu(502));
    const blocked = plan(input(cs), lab({}, [
      { netbox_id: 501, op: 'create', verdict: 'blocked', reason: 'quota_exceeded', message: 'No room on pve01' },
      { netbox_id: 502, op: 'create', verdict: 'warning', reason: 'firewall_plan_preview', message: 'Firewall later' },
    ]));
    expect(verdictsOf(blocked)).toEqual(['vm-501:blocked:quota_exceeded', 'vm-502:warning:firewall_plan_preview']);
    expect(blocked.verdicts[0]!.backend).toEqual({ verdict: 'blocked', reason: 'quota_exceeded', message: 'No room on pve01' });
    expect(blocked).toMatchObject({ permitted: false, message: 'No room on pve01 (vm-501)' });
    const short = plan(input(cs), lab({}, permitVerdicts(1)));
    expect(short.verdicts.map((v) => v.reason)).toEqual(['backend_plan_mismatch', 'backend_plan_mismatch']);
  });
});

describe('plan: the message', () => {
  it('names at most three causes, in check order, each with its VMs', () => {
    const cs = changes(createQemu(501, { vcpus: '1.50' }), createQemu(502, {}, { proxmox_vm_id: null }), createQemu(503, { name: 'bad_name' }),
      createQemu(504, { tags: ['no space'] }), createLxc(505), deleteLxc(790, 190));
    const p = plan(input(cs, { actor: 'dave', actorPermissions: ['intent_create_vm', 'intent_delete_lxc'] }, { destroyConfirmed: false }));
    expect(p.message).toBe('permission denied: intent_create_lxc (ct-505); DELETE diffs require apply_destroy_confirmed=True (ct-790); '
      + 'vcpus 1.50 is not a whole number of cores (vm-501); and 3 more');
  });
});
