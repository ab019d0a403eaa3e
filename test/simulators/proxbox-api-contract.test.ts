import { describe, expect, it } from 'vitest';
import {
  ApplyOverall, ApplyRequest, CloudInitPayload, classifyErrorBody, collectSecretValues, LxcIntentPayload, overallOf,
  PlanRequest, PlanResponse, QemuIntentPayload, RegisterDeletionRequest, scrubSecrets, TaskStatus,
} from '../../contracts/proxbox-api';
import { indexedItemParams, valuesMatch } from '../../simulators/proxbox-api/apply-params';
import { AuthGuard } from '../../simulators/proxbox-api/auth';
import { RateLimiter } from '../../simulators/proxbox-api/rate-limit';
import { cloudInitParams, quoteAll } from '../../simulators/proxbox-api/cloud-init';
import { formatUpid, parseUpid } from '../../simulators/proxbox-api/upid';
import { zodToE1 } from '../../simulators/proxbox-api/validation';
import { toBlockYaml } from '../../simulators/proxbox-api/yaml';

describe('overallOf (proxbox-api.md §5.7)', () => {
  it('is no_op without results', () => expect(overallOf([])).toBe('no_op'));
  it('is succeeded when every item succeeded or was skipped', () => {
    expect(overallOf(['succeeded', 'skipped', 'succeeded'])).toBe('succeeded');
    expect(overallOf(['skipped'])).toBe('succeeded');
  });
  it('is failed only when every item failed', () => expect(overallOf(['failed', 'failed'])).toBe('failed'));
  it('is partial otherwise, including a single not_implemented', () => {
    expect(overallOf(['not_implemented'])).toBe('partial');
    expect(overallOf(['succeeded', 'failed'])).toBe('partial');
    expect(overallOf(['skipped', 'not_implemented'])).toBe('partial');
  });
  it('only ever yields the four documented values (scenario 10)', () => {
    const statuses = ['succeeded', 'failed', 'skipped', 'not_implemented'] as const;
    const seen = new Set<string>();
    for (const a of statuses) for (const b of statuses) seen.add(overallOf([a, b]));
    seen.add(overallOf([]));
    expect([...seen].sort()).toEqual([...ApplyOverall.options].sort());
  });
});

describe('classifyErrorBody (proxbox-api.md §2 parsing order)', () => {
  it('takes a string reason as E3 even when detail is also a string', () => {
    const r = classifyErrorBody(403, { reason: 'endpoint_writes_disabled', detail: 'Operational verbs are disabled', endpoint_id: 7 });
    expect(r).toMatchObject({ shape: 'E3', status: 403, reason: 'endpoint_writes_disabled', detail: 'Operational verbs are disabled' });
    expect(r.shape === 'E3' && r.body.endpoint_id).toBe(7);
  });
  it('takes an array detail as E1', () => {
    const r = classifyErrorBody(422, { detail: [{ type: 'missing', loc: ['body', 'run_uuid'], msg: 'Field required', input: {} }] });
    expect(r).toEqual({ shape: 'E1', status: 422, errors: [{ type: 'missing', loc: ['body', 'run_uuid'], msg: 'Field required', input: {} }] });
  });
  it('takes a message as E4, and as E5 only for 500 Internal server error', () => {
    expect(classifyErrorBody(400, { message: 'Could not return Proxmox Sessions', detail: null, python_exception: null }))
      .toEqual({ shape: 'E4', status: 400, message: 'Could not return Proxmox Sessions', detail: null });
    expect(classifyErrorBody(500, { message: 'Internal server error', detail: 'An unexpected error occurred.', python_exception: null }).shape).toBe('E5');
    expect(classifyErrorBody(502, { message: 'Internal server error', detail: null }).shape).toBe('E4');
    expect(classifyErrorBody(500, { message: 'Failed to write verb audit journal entry', detail: {} }).shape).toBe('E4');
  });
  it('takes a string detail as E2', () => {
    expect(classifyErrorBody(429, { detail: 'Rate limit exceeded. Please try again later.' }))
      .toEqual({ shape: 'E2', status: 429, detail: 'Rate limit exceeded. Please try again later.' });
  });
  it('falls back to unknown for anything else', () => {
    expect(classifyErrorBody(502, '<html>Bad Gateway</html>')).toEqual({ shape: 'unknown', status: 502 });
    expect(classifyErrorBody(500, { detail: { nested: true } })).toEqual({ shape: 'unknown', status: 500 });
    expect(classifyErrorBody(504, null)).toEqual({ shape: 'unknown', status: 504 });
  });
});

describe('scrubSecrets and collectSecretValues (proxbox-api.md §5.11)', () => {
  it('redacts cipassword in the three textual forms (scenario 37)', () => {
    expect(scrubSecrets('bad value cipassword: x here')).toBe('bad value cipassword: *** here');
    expect(scrubSecrets("params {'cipassword': 'x', 'name': 'vm'}")).toBe("params {'cipassword': '***', 'name': 'vm'}");
    expect(scrubSecrets('"cipassword"="x"')).toBe('"cipassword"="***"');
  });
  it('redacts password, secret and token values case-insensitively', () => {
    expect(scrubSecrets('Password=abc Secret: def TOKEN="ghi"')).toBe('Password=*** Secret: *** TOKEN="***"');
  });
  it('masks whole password: lines of user_data', () => {
    expect(scrubSecrets('#cloud-config\nusers:\n  - name: a\n    password: two words\n')).toBe('#cloud-config\nusers:\n  - name: a\n    password: ***\n');
  });
  it('masks every literal secret value wherever it appears', () => {
    expect(scrubSecrets('failed for s3cr3t value and again s3cr3t', ['s3cr3t'])).toBe('failed for *** value and again ***');
    expect(scrubSecrets('token is "a b c"', ['a b c'])).toBe('token is "***"');
  });
  it('keeps SSH public keys and unrelated text', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO user@host';
    expect(scrubSecrets(`sshkeys: ${key}`, [])).toBe(`sshkeys: ${key}`);
  });
  it('collects nested secret values and password lines from payloads', () => {
    const payload = {
      vmid: 1, password: 'root-pw',
      cloud_init: { password: 'ci-pw', user_data: 'users:\n  password: "yaml-pw"\n' },
      disks: [{ key: 'scsi0', Secret: 'disk-secret', token: 'tok' }],
      empty: { password: '' },
    };
    expect(collectSecretValues(payload).sort()).toEqual(['ci-pw', 'disk-secret', 'root-pw', 'tok', 'yaml-pw']);
  });
});

describe('intent payload schemas (proxbox-api.md §5.1–§5.3, scenarios 7 and 8)', () => {
  it('accepts a qemu payload with only vmid, node and name; disks and nics default to []', () => {
    const p = QemuIntentPayload.parse({ vmid: 101, node: 'pve01', name: 'web-01' });
    expect(p).toEqual({ vmid: 101, node: 'pve01', name: 'web-01', disks: [], nics: [] });
  });
  it('accepts update payloads with only vmid and node for both kinds', () => {
    expect(QemuIntentPayload.parse({ vmid: 101, node: 'pve01' }).name ?? null).toBeNull();
    expect(LxcIntentPayload.parse({ vmid: 190, node: 'pve02' }).hostname ?? null).toBeNull();
  });
  it('ignores unknown keys, like the old plugin memory and disk_gb', () => {
    expect(QemuIntentPayload.parse({ vmid: 1, node: 'n', memory: 2048, disk_gb: 32 })).toEqual({ vmid: 1, node: 'n', disks: [], nics: [] });
  });
  it('keeps tags absent when absent, and [] when sent', () => {
    expect('tags' in QemuIntentPayload.parse({ vmid: 1, node: 'n' })).toBe(false);
    expect(QemuIntentPayload.parse({ vmid: 1, node: 'n', tags: [] }).tags).toEqual([]);
  });
  it('applies Pydantic lax typing to int fields', () => {
    expect(QemuIntentPayload.parse({ vmid: '101', node: 'n', cores: ' 4 ' })).toMatchObject({ vmid: 101, cores: 4 });
    expect(QemuIntentPayload.safeParse({ vmid: 'abc', node: 'n' }).success).toBe(false);
    expect(QemuIntentPayload.safeParse({ vmid: 1.5, node: 'n' }).success).toBe(false);
  });
  it('requires run_uuid as a string and diffs (scenario 9)', () => {
    expect(ApplyRequest.safeParse({ diffs: [] }).success).toBe(false);
    expect(ApplyRequest.safeParse({ run_uuid: 'r' }).success).toBe(false);
    expect(ApplyRequest.safeParse({ run_uuid: 7, diffs: [] }).success).toBe(false);
    expect(ApplyRequest.parse({ run_uuid: 'r', diffs: [], endpoint_id: 3 })).toEqual({ run_uuid: 'r', diffs: [] });
  });
  it('parses the payload by kind', () => {
    const parsed = ApplyRequest.parse({ run_uuid: 'r', diffs: [{ op: 'create', kind: 'lxc', payload: { vmid: 1, node: 'n', hostname: 'h', name: 'ignored' } }] });
    expect(parsed.diffs[0]).toEqual({ op: 'create', kind: 'lxc', payload: { vmid: 1, node: 'n', hostname: 'h', disks: [], nics: [] } });
  });
  it('rejects unknown top-level plan keys and the apply vocabulary in plans', () => {
    expect(PlanRequest.safeParse({ endpoint_id: 1, extra: true }).success).toBe(false);
    expect(PlanRequest.safeParse({ endpoint_id: 1, diffs: [{ op: 'create', kind: 'qemu' }] }).success).toBe(false);
    expect(PlanRequest.parse({ endpoint_id: 1, diffs: [{ op: 'create', kind: 'virtualmachine', type: 'firewall.rule' }] }).diffs[0])
      .toMatchObject({ type: 'firewall.rule' });
    expect(PlanResponse.safeParse({ permitted: true, verdicts: [], summary: 's', extra: 1 }).success).toBe(false);
  });
  it('limits client_ref to 200 characters', () => {
    const base = { vmid: 1, node: 'n', kind: 'qemu', endpoint_id: 1, requested_by: 'alice' };
    expect(RegisterDeletionRequest.safeParse({ ...base, client_ref: 'x'.repeat(200) }).success).toBe(true);
    expect(RegisterDeletionRequest.safeParse({ ...base, client_ref: 'x'.repeat(201) }).success).toBe(false);
  });
  it('accepts task status with a null exitstatus while running', () => {
    expect(TaskStatus.parse({ status: 'running', exitstatus: null }).status).toBe('running');
    expect(TaskStatus.safeParse({ status: 'done' }).success).toBe(false);
  });
});

describe('CloudInitPayload (proxbox-api.md §5.6)', () => {
  it('normalises search_domain: trimmed, trailing dot removed, empty becomes null', () => {
    expect(CloudInitPayload.parse({ search_domain: '  lab.example.com. ' }).search_domain).toBe('lab.example.com');
    expect(CloudInitPayload.parse({ search_domain: ' . ' }).search_domain).toBeNull();
  });
  it('rejects search domains that are not DNS labels, with the upstream message', () => {
    const r = CloudInitPayload.safeParse({ search_domain: 'bad_domain!' });
    expect(r.error?.issues.map((i) => i.message)).toEqual(['search_domain must be a valid DNS search domain']);
  });
  it('trims dns_servers, checks IP literals and duplicates', () => {
    expect(CloudInitPayload.parse({ dns_servers: [' 192.0.2.1', '2001:db8::1 '] }).dns_servers).toEqual(['192.0.2.1', '2001:db8::1']);
    expect(CloudInitPayload.safeParse({ dns_servers: ['dns.example'] }).error?.issues[0]?.message)
      .toBe("'dns.example' does not appear to be an IPv4 or IPv6 address");
    expect(CloudInitPayload.safeParse({ dns_servers: ['192.0.2.1', ' 192.0.2.1'] }).error?.issues[0]?.message)
      .toBe('dns_servers must not contain duplicates');
  });
  it('limits password to 128 characters', () => {
    expect(CloudInitPayload.safeParse({ password: 'p'.repeat(128) }).success).toBe(true);
    expect(CloudInitPayload.safeParse({ password: 'p'.repeat(129) }).success).toBe(false);
  });
});

describe('FastAPI-style E1 conversion', () => {
  const convert = (schema: { safeParse(v: unknown): { error?: { issues: unknown[] } } }, body: unknown) =>
    zodToE1((schema.safeParse(body).error?.issues ?? []) as Parameters<typeof zodToE1>[0], body, { where: 'body' });

  it('reports a missing field with the containing object as input', () => {
    expect(convert(ApplyRequest, { diffs: [] })).toEqual([
      { type: 'missing', loc: ['body', 'run_uuid'], msg: 'Field required', input: { diffs: [] } },
    ]);
  });
  it('reports a bad kind as literal_error with the expected literals', () => {
    const body = { run_uuid: 'r', diffs: [{ op: 'create', kind: 'virtualmachine', payload: {} }] };
    expect(convert(ApplyRequest, body)).toEqual([{
      type: 'literal_error', loc: ['body', 'diffs', 0, 'kind'], msg: "Input should be 'qemu', 'lxc' or 'firewall'",
      input: 'virtualmachine', ctx: { expected: "'qemu', 'lxc' or 'firewall'" },
    }]);
  });
  it('reports an integer run_uuid as string_type and extra plan keys as extra_forbidden', () => {
    expect(convert(ApplyRequest, { run_uuid: 5, diffs: [] })[0]).toMatchObject({ type: 'string_type', msg: 'Input should be a valid string', input: 5 });
    expect(convert(PlanRequest, { endpoint_id: 1, foo: 'bar' })).toEqual([
      { type: 'extra_forbidden', loc: ['body', 'foo'], msg: 'Extra inputs are not permitted', input: 'bar' },
    ]);
  });
  it('maps int failures to the Pydantic types', () => {
    expect(convert(QemuIntentPayload, { vmid: 'x', node: 'n' })[0]).toMatchObject({ type: 'int_parsing' });
    expect(convert(QemuIntentPayload, { vmid: 1.5, node: 'n' })[0]).toMatchObject({ type: 'int_from_float' });
    expect(convert(QemuIntentPayload, { vmid: [], node: 'n' })[0]).toMatchObject({ type: 'int_type' });
  });
  it('prefixes validator messages with "Value error, "', () => {
    expect(convert(CloudInitPayload, { dns_servers: ['a', 'b'] })).toEqual([{
      type: 'value_error', loc: ['body', 'dns_servers'], msg: "Value error, 'a' does not appear to be an IPv4 or IPv6 address",
      input: ['a', 'b'], ctx: { error: {} },
    }]);
  });
  it('reports string_too_long with max_length', () => {
    expect(convert(CloudInitPayload, { password: 'p'.repeat(129) })[0]).toMatchObject({
      type: 'string_too_long', msg: 'String should have at most 128 characters', ctx: { max_length: 128 },
    });
  });
});

describe('simulator mapping helpers', () => {
  it('URL-encodes like urllib quote with no safe characters', () => {
    expect(quoteAll("ssh-ed25519 AAAA+/= a@b\nssh-rsa B!'()*~")).toBe('ssh-ed25519%20AAAA%2B%2F%3D%20a%40b%0Assh-rsa%20B%21%27%28%29%2A~');
  });
  it('maps cloud-init fields to ci parameters (proxbox-api.md §5.6)', () => {
    const ci = CloudInitPayload.parse({
      user: 'ubuntu', ssh_keys: ['k1', 'k2'], network: { ip: '192.0.2.50', cidr: 24, gateway: '192.0.2.1' },
      search_domain: 'lab.example', dns_servers: ['192.0.2.53', '192.0.2.54'], user_data: 'local:snippets/u.yaml',
    });
    expect(cloudInitParams(ci)).toEqual({
      ciuser: 'ubuntu', sshkeys: 'k1%0Ak2', cicustom: 'user=local:snippets/u.yaml', ipconfig0: 'ip=192.0.2.50/24,gw=192.0.2.1',
      searchdomain: 'lab.example', nameserver: '192.0.2.53 192.0.2.54',
    });
  });
  it('builds ipconfig0 by the documented rules', () => {
    const ip = (network: Record<string, unknown>) => cloudInitParams(CloudInitPayload.parse({ network })).ipconfig0;
    expect(ip({ ipconfig0: 'ip=dhcp' })).toBe('ip=dhcp');
    expect(ip({ ip: '192.0.2.5/25', cidr: 24 })).toBe('ip=192.0.2.5/25');
    expect(ip({ ip: 'DHCP', cidr: 24 })).toBe('ip=DHCP');
    expect(ip({ ip: '192.0.2.5', gw: '192.0.2.1' })).toBe('ip=192.0.2.5,gw=192.0.2.1');
    expect(ip({ gw: '192.0.2.1' })).toBeUndefined();
  });
  it('passes cicustom references through and wraps anything else in user=', () => {
    const cicustom = (user_data: unknown) => cloudInitParams(CloudInitPayload.parse({ user_data })).cicustom;
    expect(cicustom('vendor=local:snippets/v.yaml')).toBe('vendor=local:snippets/v.yaml');
    expect(cicustom('#cloud-config')).toBe('user=#cloud-config');
    expect(cicustom({ packages: ['vim'], runcmd: [['echo', 'hi']], write_files: [{ path: '/etc/x', content: 'a: b' }] }))
      .toBe("user=packages:\n- vim\nruncmd:\n- - echo\n  - hi\nwrite_files:\n- path: /etc/x\n  content: 'a: b'\n");
  });
  it('dumps block YAML with quoting where plain scalars would change meaning', () => {
    expect(toBlockYaml({ a: 'yes', b: '12', c: '', d: null, e: true, f: {}, g: { h: 1 } })).toBe("a: 'yes'\nb: '12'\nc: ''\nd: null\ne: true\nf: {}\ng:\n  h: 1\n");
  });
  it('derives item keys and values (proxbox-api.md §5.4)', () => {
    expect(indexedItemParams([
      { key: 'scsi0', value: 'local-lvm:32' },
      { value: 'virtio,bridge=vmbr0' },
      { name: 'eth0', bridge: 'vmbr0', ip: 'dhcp', gw: null },
      { slot: 'ide2', config: 'local:iso/x.iso,media=cdrom' },
      { key: 'net9' },
    ], 'net')).toEqual({
      scsi0: 'local-lvm:32', net1: 'virtio,bridge=vmbr0', eth0: 'bridge=vmbr0,ip=dhcp', ide2: 'local:iso/x.iso,media=cdrom',
    });
  });
  it('compares values with int(str(current)) and str(current)', () => {
    expect(valuesMatch('4', 4)).toBe(true);
    expect(valuesMatch(4, 4)).toBe(true);
    expect(valuesMatch(undefined, 4)).toBe(false);
    expect(valuesMatch(4, '4')).toBe(true);
    expect(valuesMatch('local-lvm:vm-101-disk-0,size=32G', 'local-lvm:32')).toBe(false);
  });
  it('formats and parses UPIDs in the Proxmox layout', () => {
    const upid = formatUpid({ node: 'pve01', pid: 0x3a1f2, pstart: 0x0c4f5e6d, starttime: 0x6a63709f, type: 'qmcreate', id: '312', user: 'proxbox@pve!api' });
    expect(upid).toBe('UPID:pve01:0003A1F2:0C4F5E6D:6A63709F:qmcreate:312:proxbox@pve!api:');
    expect(parseUpid(upid)).toEqual({ node: 'pve01', pid: 0x3a1f2, pstart: 0x0c4f5e6d, starttime: 0x6a63709f, type: 'qmcreate', id: '312', user: 'proxbox@pve!api' });
    expect(parseUpid('UPID:garbage')).toBeNull();
  });
});

describe('lockout and rate-limit windows (proxbox-api.md §1.2, §1.3)', () => {
  it('locks an IP for 300 s after the first of five failures, then restarts the count', () => {
    const guard = new AuthGuard(['k']);
    const t0 = 1_000_000;
    expect([0, 10, 20, 30, 40].map((dt) => guard.fail('ip', t0 + dt))).toEqual([4, 3, 2, 1, 0]);
    expect(guard.isLockedOut('ip', t0 + 299_999)).toBe(true);
    expect(guard.isLockedOut('other', t0 + 1)).toBe(false);
    expect(guard.isLockedOut('ip', t0 + 300_000)).toBe(false);
    expect(guard.fail('ip', t0 + 300_001)).toBe(4);
  });

  it('counts requests over a rolling 60 s window and does not count rejections', () => {
    const limiter = new RateLimiter(2);
    expect([0, 1_000, 2_000].map((t) => limiter.allow('ip', t))).toEqual([true, true, false]);
    expect(limiter.allow('ip', 59_999)).toBe(false);
    expect(limiter.allow('ip', 60_000)).toBe(true);
    expect(limiter.allow('ip', 60_500)).toBe(false);
    expect(limiter.allow('ip', 61_000)).toBe(true);
  });

  it('keeps counting right after it has dropped many expired requests', () => {
    const limiter = new RateLimiter(3_000);
    // 6,000 requests 20 ms apart: two minutes, so the window has slid over half of them at the end.
    for (let i = 0; i < 6_000; i++) expect(limiter.allow('ip', i * 20)).toBe(true);
    // The last 60 s hold exactly 3,000 requests (times 60,000 to 119,980): the limit is reached.
    expect(limiter.allow('ip', 119_999)).toBe(false);
    expect(limiter.allow('ip', 120_000), 'the request at 60,000 left the window').toBe(true);
  });
});
