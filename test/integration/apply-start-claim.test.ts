import { describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { ApplyJobStore, type NewJob } from '../../db/apply-jobs';
import { databaseProcesses } from '../support/database';

/** Several API and worker processes are several connection pools on one database: each "process" here has its own. */
describe('one apply per merge across processes: the job row and the claim to start its workflow', () => {
  const processes = databaseProcesses('proxbox_claims');
  const stores = () => processes.map((p) => new ApplyJobStore(p.db));
  const merge = (schemaId: string, ms: number): NewJob => ({
    workflowId: `apply:${schemaId}:${ms}`, branchId: 1, branchSchemaId: schemaId, branchName: 'b', mergedAt: new Date(ms), username: 'alice', source: 'webhook',
  });

  it('creates one row per merge however many processes insert it at once; the creator holds the start', async () => {
    const all = stores();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => all[i % 3]!.ensure(merge('claim001', 1_785_000_000_000))));
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.job.id)).size).toBe(1);
    // Its creator holds a live claim: nobody else may start it meanwhile.
    expect(await Promise.all(all.map((s) => s.claimStart(answers[0]!.job.id)))).toEqual([undefined, undefined, undefined]);
  });

  it('refuses a second row for the same branch and merge time, even under another workflow id', async () => {
    const [a] = stores();
    await a!.ensure(merge('claim002', 1_785_000_000_000));
    const other = await a!.ensure({ ...merge('claim002', 1_785_000_000_000), workflowId: 'apply:claim002:forged' });
    expect(other.created).toBe(false);
    expect(other.job.workflowId).toBe('apply:claim002:1785000000000');
  });

  it('lets exactly one process take over the start of a row whose creator died, and nobody once it started', async () => {
    const all = stores();
    const { job } = await all[0]!.ensure(merge('claim003', 1_785_000_000_000));
    await processes[0]!.db.execute(sql`update apply_jobs set start_claimed_at = now() - interval '5 minutes' where id = ${job.id}`);
    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => all[i % 3]!.claimStart(job.id)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    await all[1]!.markWorkflowStarted(job.id);
    await processes[0]!.db.execute(sql`update apply_jobs set start_claimed_at = now() - interval '5 minutes' where id = ${job.id}`);
    expect(await all[2]!.claimStart(job.id)).toBeUndefined();
  });

  it('gives a failed start back at once, and never a started one', async () => {
    const [a, b] = stores();
    const { job } = await a!.ensure(merge('claim004', 1_785_000_000_000));
    await a!.releaseStartClaim(job.id);
    expect(await b!.claimStart(job.id)).toBeDefined();
    await b!.markWorkflowStarted(job.id);
    await b!.releaseStartClaim(job.id);
    expect(await a!.claimStart(job.id)).toBeUndefined();
  });
});
