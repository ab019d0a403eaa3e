import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, eventually, type Stack } from '../support/stack';
import { guestBranch } from '../support/merges';

/**
 * proxbox-api takes a create, answers at once and then sends its body a byte at a time (about 90 s for the whole
 * answer). The write's call must end at the backend's deadline, not when the body ends, so the VMID and node locks
 * are released and the VM is settled from the cluster long before the peer finishes.
 */
describe('a proxbox-api that trickles the answer to a write', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
    const endpoints = s.system.endpoints;
    const backend = (await endpoints.getBackend())!;
    await endpoints.putBackend({ url: backend.url, timeoutMs: 2_000 });
  });
  afterAll(async () => { await s?.stop(); });

  it('ends the call at the deadline, releases the locks, and adopts the guest the create made', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'trickle', delayMs: 300, times: 1 });
    const { branch } = guestBranch(s, 'trickled-create', 751, { vmName: 'trickle-01' });
    await s.netbox.mergeBranch(branch.id, 'alice');

    const job = await eventually(async () => {
      const item = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      return item && ['succeeded', 'partial', 'failed'].includes(item.state) ? (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${item.id}`)).body : undefined;
    }, 'the apply to finish while the answer is still trickling');
    expect(s.proxbox.control.trickling, 'the client hung up instead of reading on').toBe(0);
    const result = job.perVmResults['vm-' + Object.values<any>(job.perVmResults)[0].netboxId];
    expect(result, JSON.stringify(job.perVmResults)).toMatchObject({ vmid: 751, reason: 'adopted' });
    expect(['succeeded', 'accepted']).toContain(result.status);
    expect(s.proxbox.cluster.pveCalls('POST', /^nodes\/pve01\/qemu$/).filter((c) => c.params.vmid === 751), 'created once').toHaveLength(1);
    const held = await s.system.database.db.execute(sql`SELECT count(*)::int AS n FROM write_leases`);
    expect((held as unknown as { n: number }[])[0]!.n, 'no VMID or node lock is left').toBe(0);
  }, 60_000);
});
