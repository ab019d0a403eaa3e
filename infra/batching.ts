/**
 * Two ways for many concurrent activities of one process to share a round trip without giving up freshness or
 * durability. Neither keeps state that another process must agree with: they only merge this process's own I/O.
 */

interface Deferred<T> { promise: Promise<T>; resolve(value: T): void; reject(err: unknown): void }

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/**
 * Reads that are never older than the call: each caller gets the answer of a read that *started after it asked*.
 * Callers that arrive while a read is in flight share the one next read, so under load a key is read at most
 * twice per round trip however many callers there are; with no contention every call is its own read.
 */
export function freshReads<K, V>(read: (key: K) => Promise<V>, keyOf: (key: K) => string = String): (key: K) => Promise<V> {
  // A key has a lane while a read of it runs; `next` is the read that callers arriving meanwhile will share.
  const lanes = new Map<string, { next: Deferred<V> | null }>();
  const start = (id: string, key: K): Promise<V> => {
    let run: Promise<V>;
    try {
      run = read(key);
    } catch (err) {
      run = Promise.reject(err);
    }
    const lane = { next: null as Deferred<V> | null };
    lanes.set(id, lane);
    const settled = () => {
      const waiting = lane.next;
      if (!waiting) {
        lanes.delete(id);
        return;
      }
      start(id, key).then(waiting.resolve, waiting.reject);
    };
    run.then(settled, settled);
    return run;
  };
  return (key) => {
    const id = keyOf(key);
    const lane = lanes.get(id);
    if (!lane) return start(id, key);
    lane.next ??= deferred<V>();
    return lane.next.promise;
  };
}

export interface BatchOptions { maxBatch?: number; isolateFailures?: boolean | ((err: unknown) => boolean) }

/**
 * Calls submitted while a batch is running (or in the same tick) run together as the next batch: one round trip
 * for the lot, each caller getting its own answer once the batch is done. With `isolateFailures` (the default), a
 * failed batch is retried item by item so that one bad item fails alone; pass a predicate to isolate only errors
 * that one item can cause (retrying 200 items one by one against a database that is down would only queue
 * everyone behind 200 timeouts), or `false` when a partly done batch must not be repeated.
 */
export function batchCalls<T, R>(run: (batch: T[]) => Promise<R[]>, opts: BatchOptions = {}): (item: T) => Promise<R> {
  const maxBatch = opts.maxBatch ?? 200;
  const isolateOption = opts.isolateFailures ?? true;
  const isolate = (err: unknown) => (typeof isolateOption === 'function' ? isolateOption(err) : isolateOption);
  let queue: { item: T; done: Deferred<R> }[] = [];
  let running = false;

  const runBatch = async (batch: typeof queue) => {
    try {
      const answers = await run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.done.resolve(answers[i]!));
    } catch (err) {
      if (batch.length === 1 || !isolate(err)) {
        for (const b of batch) b.done.reject(err);
        return;
      }
      for (const b of batch) await run([b.item]).then(([answer]) => b.done.resolve(answer!), (e: unknown) => b.done.reject(e));
    }
  };

  const drain = async () => {
    try {
      while (queue.length) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        await runBatch(batch);
      }
    } finally {
      running = false;
    }
  };

  return (item) => {
    const done = deferred<R>();
    queue.push({ item, done });
    if (!running) {
      running = true;
      // One microtask turn, so that callers of the same tick share the first batch.
      queueMicrotask(() => { void drain(); });
    }
    return done.promise;
  };
}

/** Group commit: concurrent writes share one statement; each caller's promise settles once its item is written. */
export function groupCommit<T>(write: (batch: T[]) => Promise<void>, opts: BatchOptions = {}): (item: T) => Promise<void> {
  return batchCalls<T, void>(async (batch) => {
    await write(batch);
    return batch.map(() => undefined);
  }, opts);
}
