/**
 * `npm run chaos [-- --short | --ci] [-- --parallel] [-- --only <text>]`: faults injected into real runs (a Temporal dev
 * server, PostgreSQL, the simulators, our API and worker processes), one after another on one harness, or side by side
 * on a harness each (`--parallel`; `--ci` is the short sizes side by side, for CI), then a table. Exits 1 when any run shows a
 * duplicate create, a lost or wrong result (chaos/verdicts.ts defines them), a stuck job or deletion request, or a
 * worker that crashed (it is replaced at once, as an orchestrator would, so the other figures still mean something).
 * Figures, not a timed test: time to converge is printed, never asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowsTo, startHarness, type Harness } from './harness';
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

interface Profile { name: 'full' | 'short' | 'ci'; short: boolean; parallel: boolean }

function profileOf(args: string[]): Profile {
  if (args.includes('--ci')) return { name: 'ci', short: true, parallel: true };
  return { name: args.includes('--short') ? 'short' : 'full', short: args.includes('--short'), parallel: args.includes('--parallel') };
}

/** One fault on a harness; `crashesBefore` are the harness's crashes from earlier faults. */
async function runFault(h: Harness, fault: Fault, i: number, short: boolean, log: (line: string) => void): Promise<Row> {
  log(`== ${fault.name}`);
  const started = Date.now();
  const crashesBefore = h.crashes.length;
  const report = { ...await fault.run(h, { short, log, firstVmid: 10_000 + i * 1_000 }), crashes: 0 };
  report.crashes = h.crashes.length - crashesBefore;
  log(`  ${report.detail}; job ${report.jobState}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const other = Object.entries(report.other).map(([k, n]) => `${n} ${k}`).join(', ');
  if (other) log(`  other outcomes (agreeing with the cluster): ${other}`);
  for (const f of report.findings.slice(0, 40)) log(`  ! ${f}`);
  return report;
}

/** A fault that could not run at all (its harness did not start, or it threw): a failed row with the reason. */
function brokenRow(fault: Fault, err: unknown): Row {
  return {
    fault: fault.name, detail: String(err), total: 0, applied: 0, duplicates: 0, lost: 0, wrong: 0, unknown: 0, other: {},
    findings: [String(err)], stuck: 1, convergeS: 0, jobState: 'error', crashes: 0,
  };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const profile = profileOf(args);
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args[onlyAt + 1]?.toLowerCase() : undefined;
  const chosen = FAULTS.filter((f) => !only || f.name.toLowerCase().includes(only));
  if (!chosen.length) {
    console.error(`--only ${only}: no fault matches (${FAULTS.map((f) => f.name).join('; ')})`);
    return 2;
  }
  const t0 = Date.now();
  console.log(`proxbox-intent chaos suite (${profile.name}${profile.parallel ? ', faults side by side' : ''}) — ${new Date().toISOString()}; `
    + `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  let reports: Row[] = [];
  if (profile.parallel) {
    // Each fault on a harness of its own (its own Temporal, database, simulators and workers), all at once: a
    // Temporal restart or a dropped connection touches only its own run, and the waits of one overlap the others'.
    const dir = mkdtempSync(join(os.tmpdir(), 'proxbox-chaos-bundle-'));
    try {
      const bundlePath = await bundleWorkflowsTo(join(dir, 'workflows.js'));
      reports = await Promise.all(chosen.map(async (fault, i) => {
        const log = (line: string) => console.log(`[${fault.name}] ${line}`);
        try {
          const h = await startHarness(log, { bundlePath });
          try {
            return await runFault(h, fault, i, profile.short, log);
          } finally {
            await h.stop().catch((e: unknown) => log(`stopping the harness: ${String(e)}`));
          }
        } catch (err) {
          log(`! ${String(err)}`);
          return brokenRow(fault, err);
        }
      }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    const log = (line: string) => console.log(line);
    const h = await startHarness(log);
    try {
      for (const [i, fault] of chosen.entries()) {
        console.log('');
        try {
          reports.push(await runFault(h, fault, i, profile.short, log));
        } catch (err) {
          log(`! ${String(err)}`);
          reports.push(brokenRow(fault, err));
        }
      }
    } finally {
      await h.stop().catch((e: unknown) => console.error('stopping the harness:', e));
    }
  }
  console.log(`\n${table(reports)}\n`);
  console.log(`whole suite ${((Date.now() - t0) / 1000).toFixed(0)} s. Definitions: chaos/verdicts.ts (applied, duplicate, lost, wrong, unknown; stuck = not final ${SETTLE_BOUND_MS / 1000} s after the faults stopped).`);
  const bad = reports.filter((r) => r.duplicates || r.lost || r.wrong || r.stuck || r.crashes);
  if (bad.length) console.log(`FAILED: ${bad.map((r) => r.fault).join(', ')}`);
  return bad.length ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => { console.error(err); process.exit(1); });
