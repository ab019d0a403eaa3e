import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Branch, BranchEvent, BranchMergedWebhook, ChangeDiff, Paginated, VmChangeData, WebhookEnvelope,
  netboxAuthHeader, parseIsoToEpochMicros, toEpochMs,
} from '../../contracts/netbox';
import {
  applyRunId, applyRunIdFromMs, deletionRequestWorkflowId, parseApplyRunId, parseDeletionRequestWorkflowId,
} from '../../domain/run-identity';
import { signWebhookBody, verifyWebhookSignature } from '../../domain/webhook-signature';

describe('toEpochMs', () => {
  it('gives the same truncated epoch ms for REST microseconds and change-data milliseconds', () => {
    expect(toEpochMs('2026-07-24T14:03:11.902315Z')).toBe(1784901791902);
    expect(toEpochMs('2026-07-24T14:03:11.902Z')).toBe(1784901791902);
  });

  it('truncates rather than rounds', () => {
    expect(toEpochMs('2026-07-24T14:03:11.902999Z')).toBe(1784901791902);
    expect(toEpochMs('2026-07-24T14:03:11.9029999Z')).toBe(1784901791902);
  });

  it('honours offsets, whole seconds and the Python +00:00 form', () => {
    expect(toEpochMs('2026-07-24T16:03:11.902315+02:00')).toBe(1784901791902);
    expect(toEpochMs('2026-07-24T09:33:11.902-0430')).toBe(1784901791902);
    expect(toEpochMs('2026-07-24T14:03:11.902315+00:00')).toBe(1784901791902);
    expect(toEpochMs('2026-07-24T14:03:11Z')).toBe(1784901791000);
  });

  it('rejects datetimes without a zone and impossible dates', () => {
    for (const bad of ['2026-07-24T14:03:11.902', '2026-02-30T00:00:00Z', '2026-07-24T24:00:00Z', 'yesterday', '', '2026-07-24']) {
      expect(() => toEpochMs(bad), bad).toThrow(RangeError);
    }
  });

  it('keeps microseconds when asked for them and accepts zone-less filter values as UTC', () => {
    expect(parseIsoToEpochMicros('2026-07-24T14:03:11.902315Z')).toBe(1784901791902315);
    expect(parseIsoToEpochMicros('2026-07-24T14:03:11', { assumeUtc: true })).toBe(1784901791000000);
    expect(parseIsoToEpochMicros('2026-07-24', { allowDateOnly: true })).toBe(Date.UTC(2026, 6, 24) * 1000);
  });
});

describe('netboxAuthHeader', () => {
  it('uses Bearer for v2 tokens and Token for legacy v1 tokens', () => {
    expect(netboxAuthHeader('nbt_abc.def')).toBe('Bearer nbt_abc.def');
    expect(netboxAuthHeader('0123456789abcdef')).toBe('Token 0123456789abcdef');
    expect(netboxAuthHeader('NBT_upper')).toBe('Token NBT_upper');
  });
});

describe('run identity', () => {
  it('builds the netbox.md §9.3 id from either merged_time representation', () => {
    expect(applyRunId('k3x9p2qa', '2026-07-24T14:03:11.902315Z')).toBe('apply:k3x9p2qa:1784901791902');
    expect(applyRunId('k3x9p2qa', '2026-07-24T14:03:11.902Z')).toBe('apply:k3x9p2qa:1784901791902');
    expect(applyRunIdFromMs('k3x9p2qa', 1784901791902)).toBe('apply:k3x9p2qa:1784901791902');
  });

  it('rejects a bad schema_id or merged_time', () => {
    expect(() => applyRunId('branch_k3x9p2qa', '2026-07-24T14:03:11.902Z')).toThrow(RangeError);
    expect(() => applyRunId('K3X9P2QA', '2026-07-24T14:03:11.902Z')).toThrow(RangeError);
    expect(() => applyRunId('k3x9p2qa', 'not a time')).toThrow(RangeError);
    expect(() => applyRunIdFromMs('k3x9p2qa', 1.5)).toThrow(RangeError);
  });

  it('round-trips apply run ids', () => {
    expect(parseApplyRunId('apply:k3x9p2qa:1784901791902')).toEqual({ schemaId: 'k3x9p2qa', mergedTimeMs: 1784901791902 });
    for (const bad of ['apply:k3x9p2qa:', 'apply:k3x9p2q:1', 'apply:k3x9p2qa:01', 'deletion:k3x9p2qa:1:2', 'apply:k3x9p2qa:1:2']) {
      expect(parseApplyRunId(bad), bad).toBeNull();
    }
  });

  it('derives and parses deletion-request workflow ids', () => {
    const run = 'apply:k3x9p2qa:1784901791902';
    const id = deletionRequestWorkflowId(run, 790);
    expect(id).toBe('deletion:k3x9p2qa:1784901791902:790');
    expect(parseDeletionRequestWorkflowId(id)).toEqual({
      schemaId: 'k3x9p2qa', mergedTimeMs: 1784901791902, netboxObjectId: 790, applyRunId: run,
    });
    expect(parseDeletionRequestWorkflowId('deletion:k3x9p2qa:1784901791902:0')).toBeNull();
    expect(parseDeletionRequestWorkflowId(run)).toBeNull();
    expect(() => deletionRequestWorkflowId('apply:nope', 790)).toThrow(RangeError);
    expect(() => deletionRequestWorkflowId(run, 0)).toThrow(RangeError);
  });
});

describe('webhook signature', () => {
  const secret = 'hook-secret';
  const body = '{"event": "branch_merged", "data": {"name": "caf\\u00e9"}}';

  it('is the lowercase hex HMAC-SHA512 of the raw body', () => {
    const expected = createHmac('sha512', secret).update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signWebhookBody(secret, body)).toBe(expected);
    expect(signWebhookBody(secret, new TextEncoder().encode(body))).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{128}$/);
  });

  it('verifies a good signature over string or bytes', () => {
    const sig = signWebhookBody(secret, body);
    expect(verifyWebhookSignature(secret, body, sig)).toBe(true);
    expect(verifyWebhookSignature(secret, Buffer.from(body), sig)).toBe(true);
    expect(verifyWebhookSignature(secret, body, sig.toUpperCase())).toBe(true);
  });

  it('rejects a re-serialised body, a wrong secret and malformed headers', () => {
    const sig = signWebhookBody(secret, body);
    expect(verifyWebhookSignature(secret, JSON.stringify(JSON.parse(body)), sig)).toBe(false);
    expect(verifyWebhookSignature('other', body, sig)).toBe(false);
    expect(verifyWebhookSignature('', body, signWebhookBody('', body))).toBe(false);
    for (const header of [undefined, null, '', sig.slice(0, 64), `${sig}00`, `sha512=${sig}`, 'z'.repeat(128)]) {
      expect(verifyWebhookSignature(secret, body, header), String(header)).toBe(false);
    }
    const flipped = (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1);
    expect(verifyWebhookSignature(secret, body, flipped)).toBe(false);
  });
});

const branch942 = {
  id: 42,
  url: 'https://netbox.example.com/api/plugins/branching/branches/42/',
  display: 'add-web-vms',
  name: 'add-web-vms',
  status: { value: 'merged', label: 'Merged' },
  owner: { id: 4, url: 'https://netbox.example.com/api/users/users/4/', display: 'bob', username: 'bob' },
  description: 'Add web-03, resize db-01, retire old-app-02',
  schema_id: 'k3x9p2qa',
  last_sync: '2026-07-24T13:40:02.117342Z',
  merged_time: '2026-07-24T14:03:11.902315Z',
  merged_by: { id: 7, url: 'https://netbox.example.com/api/users/users/7/', display: 'alice', username: 'alice' },
  comments: '',
  tags: [],
  custom_fields: { apply_to_proxmox: true, apply_destroy_confirmed: true },
  created: '2026-07-23T09:12:44.310021Z',
  last_updated: '2026-07-24T14:03:11.905118Z',
  some_future_field: 1,
};

describe('schemas', () => {
  it('parses the netbox.md §9.1 branch, keeps unknown keys, and rejects an unknown status', () => {
    const parsed = Branch.parse(branch942);
    expect(parsed.status.value).toBe('merged');
    expect((parsed as Record<string, unknown>).some_future_field).toBe(1);
    expect(Branch.safeParse({ ...branch942, status: { value: 'exploded', label: 'Exploded' } }).success).toBe(false);
    expect(Branch.safeParse({ ...branch942, custom_fields: {} }).success).toBe(true);
    expect(Branch.safeParse({ ...branch942, custom_fields: { apply_to_proxmox: 'yes' } }).success).toBe(false);
  });

  it('parses a paginated list of events', () => {
    const page = Paginated(BranchEvent).parse({
      count: 1, next: null, previous: null,
      results: [{
        id: 1, url: 'u', display: 'd', time: '2026-07-24T14:03:11.903Z', user: null,
        branch: { id: 42, url: 'u', display: 'x', name: 'x', status: { value: 'merged', label: 'Merged' }, description: '' },
        type: { value: 'merged', label: 'Merged' },
      }],
    });
    expect(page.results[0]?.type.value).toBe('merged');
    expect(Paginated(BranchEvent).safeParse({ count: 1, next: null, results: [] }).success).toBe(false);
  });

  it('requires decimal strings for vcpus in change data', () => {
    expect(VmChangeData.parse({ name: 'db-01', vcpus: '2.00', custom_fields: { proxmox_vm_id: 105 } }).vcpus).toBe('2.00');
    expect(VmChangeData.safeParse({ name: 'db-01', vcpus: 2 }).success).toBe(false);
    expect(VmChangeData.safeParse({ name: 'db-01', custom_fields: { proxmox_vm_id: '105' } }).success).toBe(false);
  });

  it('parses a delete ChangeDiff with null modified_data', () => {
    const diff = ChangeDiff.parse({
      id: 903, url: 'u', display: 'Deleted virtual machine old-app-02 (790)',
      branch: { id: 42, url: 'u', display: 'x', name: 'x', status: { value: 'merged', label: 'Merged' }, description: '' },
      object_type: 'virtualization.virtualmachine', object_id: 790, object: null, object_repr: 'old-app-02',
      action: { value: 'delete', label: 'Deleted' }, conflicts: null,
      diff: { original: {}, modified: {}, current: {} },
      original_data: { name: 'old-app-02' }, modified_data: null, current_data: { name: 'old-app-02' },
      last_updated: '2026-07-24T13:59:17.880245Z',
    });
    expect(diff.modified_data).toBeNull();
    expect(ChangeDiff.safeParse({ ...diff, action: { value: 'move', label: 'Moved' } }).success).toBe(false);
  });

  const webhook45 = {
    event: 'branch_merged', timestamp: '2026-07-24T14:03:12.514903+00:00', object_type: 'netbox_branching.branch',
    username: 'alice', request_id: null,
    data: {
      name: 'add-web-vms', owner: 4, description: '', comments: '', schema_id: 'k3x9p2qa', status: 'merged',
      applied_migrations: [], last_sync: '2026-07-24T13:40:02.117Z', merged_time: '2026-07-24T14:03:11.902Z',
      merged_by: 7, merge_strategy: 'iterative', created: '2026-07-23T09:12:44.310Z', last_updated: '2026-07-24T14:03:11.905Z',
      custom_fields: { apply_to_proxmox: true, apply_destroy_confirmed: true }, tags: [], id: 42,
    },
  };

  it('accepts the 4.4 (with model), 4.5 and 4.6 webhook bodies', () => {
    expect(BranchMergedWebhook.parse(webhook45).data.id).toBe(42);
    expect(BranchMergedWebhook.parse({ ...webhook45, model: 'branch' }).model).toBe('branch');
    expect(BranchMergedWebhook.parse({ ...webhook45, data: { ...webhook45.data, action_extra: 'x' } }).data.schema_id).toBe('k3x9p2qa');
  });

  it('separates other events (envelope only) from malformed merged bodies', () => {
    const other = { ...webhook45, event: 'object_updated', object_type: 'virtualization.virtualmachine' };
    expect(WebhookEnvelope.safeParse(other).success).toBe(true);
    expect(BranchMergedWebhook.safeParse(other).success).toBe(false);
    expect(BranchMergedWebhook.safeParse({ ...webhook45, data: { ...webhook45.data, id: '42' } }).success).toBe(false);
    const { object_type: _dropped, ...noObjectType } = webhook45;
    expect(BranchMergedWebhook.safeParse(noObjectType).success).toBe(false);
  });
});
