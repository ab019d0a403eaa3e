import { describe, expect, it } from 'vitest';
import { freshReads, groupCommit } from '../../infra/batching';

const tick = () => new Promise((r) => setImmediate(r));

/** A read whose answers the test releases by hand, recording when each read started. */
function manualReads() {
  const started: { key: string; release: (v: number) => void; fail: (e: unknown) => void }[] = [];
  let version = 0;
  const read = (key: string) => new Promise<number>((release, fail) => {
    version += 1;
    started.push({ key, release: () => release(version), fail });
  });
  return { read, started };
}

describe('freshReads', () => {
  it('gives a caller that arrives during a read the answer of a later read, shared with everyone else waiting', async () => {
    const { read, started } = manualReads();
    const fresh = freshReads(read);
    const first = fresh('branch-7');
    const late = [fresh('branch-7'), fresh('branch-7'), fresh('branch-7')];
    expect(started).toHaveLength(1);
    started[0]!.release(0);
    expect(await first).toBe(1);
    await tick();
    // The three late callers asked after read 1 started, so they share read 2, which starts only now.
    expect(started).toHaveLength(2);
    started[1]!.release(0);
    expect(await Promise.all(late)).toEqual([2, 2, 2]);
  });

  it('keeps keys apart and reads again once nobody is waiting', async () => {
    const { read, started } = manualReads();
    const fresh = freshReads(read);
    const a = fresh('a');
    const b = fresh('b');
    expect(started.map((s) => s.key)).toEqual(['a', 'b']);
    started[0]!.release(0);
    started[1]!.release(0);
    await Promise.all([a, b]);
    await tick();
    const again = fresh('a');
    expect(started).toHaveLength(3);
    started[2]!.release(0);
    expect(await again).toBe(3);
  });

  it('turns a read that throws at once into a rejection, and reads again afterwards', async () => {
    let calls = 0;
    const fresh = freshReads((key: string) => {
      calls += 1;
      if (calls === 1) throw new Error(`cannot read ${key}`);
      return Promise.resolve(calls);
    });
    await expect(fresh('k')).rejects.toThrow('cannot read k');
    await tick();
    expect(await fresh('k')).toBe(2);
  });

  it('hands a failed read to its callers only, and the next read still happens', async () => {
    const { read, started } = manualReads();
    const fresh = freshReads(read);
    const first = fresh('x');
    const waiting = fresh('x');
    started[0]!.fail(new Error('NetBox is down'));
    await expect(first).rejects.toThrow('NetBox is down');
    await tick();
    started[1]!.release(0);
    expect(await waiting).toBe(2);
  });
});

describe('groupCommit', () => {
  it('writes the items of one tick together and the items that arrive during a flush in the next one', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const write = groupCommit<number>(async (batch) => {
      batches.push(batch);
      if (batches.length === 1) await new Promise<void>((r) => { release = r; });
    });
    const firstTick = [write(1), write(2)];
    await tick();
    const duringFlush = [write(3), write(4), write(5)];
    release();
    await Promise.all([...firstTick, ...duringFlush]);
    expect(batches).toEqual([[1, 2], [3, 4, 5]]);
  });

  it('settles a caller only after its item was written', async () => {
    let written = false;
    const write = groupCommit<string>(async () => { await tick(); written = true; });
    await write('event');
    expect(written).toBe(true);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const seen: string[][] = [];
    const write = groupCommit<string>(async (batch) => {
      seen.push(batch);
      if (batch.includes('bad')) throw new Error('violates a foreign key');
    });
    const results = await Promise.allSettled([write('ok-1'), write('bad'), write('ok-2')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(seen).toEqual([['ok-1', 'bad', 'ok-2'], ['ok-1'], ['bad'], ['ok-2']]);
  });

  it('fails a whole batch at once on an error that is not one item\'s fault', async () => {
    const seen: number[][] = [];
    const write = groupCommit<number>(async (batch) => {
      seen.push(batch);
      throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    }, { isolateFailures: (err) => (err as { code?: string }).code === '23503' });
    const results = await Promise.allSettled([write(1), write(2), write(3)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(seen, 'no one-by-one retries against a database that is down').toEqual([[1, 2, 3]]);
  });

  it('caps the batch size', async () => {
    const sizes: number[] = [];
    const write = groupCommit<number>(async (batch) => { sizes.push(batch.length); }, { maxBatch: 2 });
    await Promise.all([1, 2, 3, 4, 5].map(write));
    expect(sizes).toEqual([2, 2, 1]);
  });
});
