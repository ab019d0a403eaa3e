import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetboxVersion } from '../../simulators/netbox';
import { startStack, eventually, type Stack } from '../support/stack';

/** The 4.5 shapes run in every other e2e file; these are the versions on either side of it. */
describe.each(['4.4', '4.6'] as NetboxVersion[])('a merge on NetBox %s, end to end', (version) => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ netboxVersion: version }); });
  afterAll(async () => { await s?.stop(); });

  it(`accepts the ${version} branch_merged body and applies the demo branch from ${version} ChangeDiffs`, async () => {
    const { branch } = s.netbox.buildDemoBranch();
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    const delivery = merged.deliveries[0]!;
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ event: 'branch_merged', object_type: 'netbox_branching.branch', data: { id: branch.id, status: 'merged' } });
    if (version === '4.4') expect(body.model).toBe('branch'); else expect(body).not.toHaveProperty('model');
    expect(delivery.status).toBe(202);
    expect(JSON.parse(delivery.responseBody!)).toMatchObject({ outcome: 'started' });

    const done = await eventually(async () => {
      const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      if (!j || !['succeeded', 'partial', 'failed'].includes(j.state)) return undefined;
      return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${j.id}`)).body;
    }, 'the apply job to finish');
    expect(done.state, JSON.stringify(done.perVmResults, null, 1)).toBe('succeeded');
    const results = Object.values(done.perVmResults as Record<string, any>).map((r) => [r.vmid, r.op, r.kind, r.status]);
    expect(results.sort((a, b) => a[0] - b[0])).toEqual([
      [105, 'update', 'qemu', 'succeeded'],
      [190, 'delete', 'lxc', 'deletion_requested'],
      [312, 'create', 'qemu', 'succeeded'],
      [320, 'create', 'lxc', 'succeeded'],
    ]);
    expect(s.proxbox.control.callsTo('POST', '/intent/apply')).toHaveLength(3);
  });
});
