/**
 * The benchmark's worker, in a process of its own so its memory is the worker's alone (not the API's, the NetBox
 * simulator's or the benchmark's). Configured from the environment like `npm run start:worker`; answers `peak` on
 * its IPC channel with the highest RSS and heap seen since the last `reset`, sampled every 100 ms.
 */
import { parseEnv } from '../config/env';
import { startSystem } from '../runtime/system';

export interface MemoryPeak {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** The heap still in use after a full garbage collection at the end of the run: what the worker holds on to. */
  retainedHeapBytes: number;
}

const system = await startSystem({ env: parseEnv(process.env), role: 'worker' });
let peak: MemoryPeak = { rssBytes: 0, heapUsedBytes: 0, heapTotalBytes: 0, retainedHeapBytes: 0 };
const sample = () => {
  const m = process.memoryUsage();
  peak = { ...peak, rssBytes: Math.max(peak.rssBytes, m.rss), heapUsedBytes: Math.max(peak.heapUsedBytes, m.heapUsed), heapTotalBytes: Math.max(peak.heapTotalBytes, m.heapTotal) };
};
// Started with --expose-gc by the benchmark.
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
setInterval(sample, 100).unref();
process.on('message', (msg: unknown) => {
  if (msg === 'reset') {
    peak = { rssBytes: 0, heapUsedBytes: 0, heapTotalBytes: 0, retainedHeapBytes: 0 };
    sample();
  } else if (msg === 'peak') {
    sample();
    collect();
    process.send!({ peak: { ...peak, retainedHeapBytes: process.memoryUsage().heapUsed } });
  } else if (msg === 'stop') {
    void system.stop().finally(() => process.exit(0));
  }
});
process.send!('ready');
