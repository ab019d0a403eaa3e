import { readFileSync, readdirSync } from 'node:fs';

/** CPU seconds used so far by each component of the benchmark, read from /proc (Linux only; empty elsewhere). */
export type CpuSnapshot = Record<string, number>;

const CLOCK_TICKS_PER_SECOND = 100;

function procCpuSeconds(pid: number, path = `/proc/${pid}/stat`): number | null {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

function processesNamed(command: string): number[] {
  try {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
      try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === command; } catch { return false; }
    });
  } catch {
    return [];
  }
}

/** Thread names as Linux reports them for this process, grouped by what runs on them. */
const OWN_THREADS: [RegExp, string][] = [
  [/^tokio-runtime/, 'Temporal core SDK (Rust threads)'],
  [/^workflow-/, 'workflow threads'],
];

function ownThreads(mainThread: string): CpuSnapshot {
  const out: CpuSnapshot = {};
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const group = OWN_THREADS.find(([re]) => re.test(comm))?.[1] ?? `JS main thread (${mainThread}) and its GC and I/O helpers`;
      const seconds = procCpuSeconds(Number(tid), `/proc/self/task/${tid}/stat`);
      if (seconds !== null) out[`this process: ${group}`] = (out[`this process: ${group}`] ?? 0) + seconds;
    }
  } catch {
    const own = process.cpuUsage();
    out['this process'] = (own.user + own.system) / 1e6;
  }
  return out;
}

/** Snapshots this process (per group of threads), the named child processes and every PostgreSQL backend. */
export function cpuSnapshot(children: Record<string, number | null>, mainThread = 'activities, API, NetBox simulator'): CpuSnapshot {
  const snapshot: CpuSnapshot = ownThreads(mainThread);
  for (const [name, pid] of Object.entries(children)) {
    const seconds = pid === null ? null : procCpuSeconds(pid);
    if (seconds !== null) snapshot[name] = seconds;
  }
  const pg = processesNamed('postgres').map((pid) => procCpuSeconds(pid)).filter((s): s is number => s !== null);
  if (pg.length) snapshot['PostgreSQL (all backends)'] = pg.reduce((a, b) => a + b, 0);
  return snapshot;
}

/** CPU milliseconds per unit of work between two snapshots, per component and in total. */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number): string[] {
  let total = 0;
  const lines = Object.keys(after).map((name) => {
    const ms = ((after[name]! - (before[name] ?? 0)) * 1000) / units;
    total += ms;
    return `    ${name}: ${ms.toFixed(2)} ms`;
  });
  return [...lines, `    total: ${total.toFixed(2)} ms`];
}
