/**
 * `npm run chaos [-- --short] [-- --only <text>]`: faults injected into real runs (a Temporal dev server, PostgreSQL,
 * the simulators, our API and worker processes), one after another, then a table. Exits 1 when any run shows a
 * duplicate create, a lost or wrong result (chaos/verdicts.ts defines them), a stuck job or deletion request, or a
 * worker that crashed (it is replaced at once, as an orchestrator would, so the other figures still mean something).
 * Figures, not a timed test: time to converge is printed, never asserted.
 */
import os from 'node:os';
import { startHarness } from './harness';
import { SETTLE_BOUND_MS, type Fault, type FaultReport } from './faults/common';
import { netboxDown } from './faults/netbox-down';
import { postgresDrop } from './faults/postgres-drop';
import { proxboxFaults } from './faults/proxbox-faults';
import { oneOfSeveral } from './faults/several-workers';
import { temporalRestart } from './faults/temporal-restart';
import { workerKills } from './faults/worker-kills';

const FAULTS: Fault[] = [workerKills, temporalRestart, postgresDrop, proxboxFaults, netboxDown, oneOfSeveral];

type Row = FaultReport & { crashes: number };

function table(reports: Row[]): string {
  const head = ['fault', 'VMs applied', 'dup creates', 'lost', 'wrong', 'unknown', 'stuck', 'crashes', 'converge s', 'job'];
  const rows = reports.map((r) => [r.fault, `${r.applied}/${r.total}`, r.duplicates, r.lost, r.wrong, r.unknown, r.stuck, r.crashes, r.convergeS.toFixed(1), r.jobState].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const short = args.includes('--short');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args[onlyAt + 1]?.toLowerCase() : undefined;
  const chosen = FAULTS.filter((f) => !only || f.name.toLowerCase().includes(only));
  if (!chosen.length) {
    console.error(`--only ${only}: no fault matches (${FAULTS.map((f) => f.name).join('; ')})`);
    return 2;
  }
  const log = (line: string) => console.log(line);
  const t0 = Date.now();
  console.log(`proxbox-intent chaos suite (${short ? 'short' : 'full'}) — ${new Date().toISOString()}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  const h = await startHarness(log);
  const reports: Row[] = [];
  try {
    for (const [i, fault] of chosen.entries()) {
      console.log(`\n== ${fault.name}`);
      const started = Date.now();
      const crashesBefore = h.crashes.length;
      const report = { ...await fault.run(h, { short, log, firstVmid: 10_000 + i * 1_000 }), crashes: 0 };
      report.crashes = h.crashes.length - crashesBefore;
      reports.push(report);
      console.log(`  ${report.detail}; job ${report.jobState}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
      const other = Object.entries(report.other).map(([k, n]) => `${n} ${k}`).join(', ');
      if (other) console.log(`  other outcomes (agreeing with the cluster): ${other}`);
      for (const f of report.findings.slice(0, 20)) console.log(`  ! ${f}`);
    }
  } finally {
    await h.stop().catch((e: unknown) => console.error('stopping the harness:', e));
  }
  console.log(`\n${table(reports)}\n`);
  console.log(`whole suite ${((Date.now() - t0) / 1000).toFixed(0)} s. Definitions: chaos/verdicts.ts (applied, duplicate, lost, wrong, unknown; stuck = not final ${SETTLE_BOUND_MS / 1000} s after the faults stopped).`);
  const bad = reports.filter((r) => r.duplicates || r.lost || r.wrong || r.stuck || r.crashes);
  if (bad.length) console.log(`FAILED: ${bad.map((r) => r.fault).join(', ')}`);
  return bad.length ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); });
