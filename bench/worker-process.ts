/**
 * The benchmark's worker, in a process of its own so its memory is the worker's alone (not the API's, the NetBox
 * simulator's or the benchmark's). Configured from the environment like `npm run start:worker`; answers `peak` on
 * its IPC channel with the highest RSS and heap seen since the last `reset`, sampled every 100 ms (`peek`: the same
 * without the full collection `peak` ends with, which would set the heap's next limit), and the highest
 * heap left after a full (mark-sweep) collection, which is what the worker really held rather than garbage not yet
 * collected.
 *
 * `BENCH_HEAP_TRACE=<file>` appends a timeline (ms since start, heap used in MiB, what: `sample` every 500 ms,
 * `gc` after each full collection, `reset` and `peak` when the benchmark asks); `BENCH_HEAP_SNAPSHOT_MIB=<n>` writes
 * one heap snapshot (into the working directory) the first time a full collection leaves more than n MiB, to see
 * what is held.
 */
import { appendFileSync } from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { parseEnv } from '../config/env';
import { startSystem } from '../runtime/system';

export interface MemoryPeak {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** The most heap still in use right after a full collection: the largest live set. */
  liveHeapBytes: number;
  /** The heap still in use after a full garbage collection at the end of the run: what the worker holds on to. */
  retainedHeapBytes: number;
}

const system = await startSystem({ env: parseEnv(process.env), role: 'worker' });
const empty = (): MemoryPeak => ({ rssBytes: 0, heapUsedBytes: 0, heapTotalBytes: 0, liveHeapBytes: 0, retainedHeapBytes: 0 });
let peak = empty();
const started = Date.now();
const tracePath = process.env.BENCH_HEAP_TRACE;
const trace = (heapUsed: number, what: string) => {
  if (tracePath) appendFileSync(tracePath, `${Date.now() - started}\t${(heapUsed / 2 ** 20).toFixed(1)}\t${what}\n`);
};
const snapshotAboveMib = Number(process.env.BENCH_HEAP_SNAPSHOT_MIB ?? 0);
let snapshotWritten = false;
const sample = () => {
  const m = process.memoryUsage();
  peak = { ...peak, rssBytes: Math.max(peak.rssBytes, m.rss), heapUsedBytes: Math.max(peak.heapUsedBytes, m.heapUsed), heapTotalBytes: Math.max(peak.heapTotalBytes, m.heapTotal) };
  return m;
};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if ((entry as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    const heapUsed = process.memoryUsage().heapUsed;
    peak = { ...peak, liveHeapBytes: Math.max(peak.liveHeapBytes, heapUsed) };
    trace(heapUsed, 'gc');
    if (snapshotAboveMib > 0 && !snapshotWritten && heapUsed > snapshotAboveMib * 2 ** 20) {
      snapshotWritten = true;
      trace(heapUsed, `snapshot ${writeHeapSnapshot()}`);
    }
  }
}).observe({ entryTypes: ['gc'] });
// Started with --expose-gc by the benchmark.
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
setInterval(sample, 100).unref();
if (tracePath) setInterval(() => trace(process.memoryUsage().heapUsed, 'sample'), 500).unref();
process.on('message', (msg: unknown) => {
  if (msg === 'reset') {
    peak = empty();
    trace(sample().heapUsed, 'reset');
  } else if (msg === 'peek') {
    trace(sample().heapUsed, 'peek');
    process.send!({ peak });
  } else if (msg === 'peak') {
    trace(sample().heapUsed, 'peak');
    collect();
    process.send!({ peak: { ...peak, retainedHeapBytes: process.memoryUsage().heapUsed } });
  } else if (msg === 'stop') {
    void system.stop().finally(() => process.exit(0));
  }
});
process.send!('ready');
