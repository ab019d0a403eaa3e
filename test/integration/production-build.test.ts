import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { REPO_ROOT } from '../../runtime/paths';
import { findFreePort, startTemporalDevServer, type TemporalDevServer } from '../../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../../runtime/search-attributes';
import { DeletionWorkflow } from '../../workflows/deletion';
import { deletionStateQuery } from '../../workflows/definitions';
import { createFreshDatabase } from '../support/database';
import { eventually } from '../support/eventually';

const run = promisify(execFile);

/**
 * What the image runs: `npm run build`, then the compiled entry point with plain Node, from a directory that holds
 * only dist/, package.json and node_modules (no TypeScript source, so nothing can be compiled or bundled at start).
 */
let app: string;
beforeAll(async () => {
  await run('npm', ['run', 'build'], { cwd: REPO_ROOT });
  app = mkdtempSync(join(tmpdir(), 'proxbox-build-'));
  cpSync(resolve(REPO_ROOT, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(resolve(REPO_ROOT, 'package.json'), join(app, 'package.json'));
  symlinkSync(resolve(REPO_ROOT, 'node_modules'), join(app, 'node_modules'));
}, 300_000);
afterAll(() => { if (app) rmSync(app, { recursive: true, force: true }); });

function start(role: string, env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['dist/scripts/start.js', role], { cwd: app, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

describe('the production build', () => {
  it('has no TypeScript in dist/ and writes the workflow bundle', () => {
    expect(existsSync(join(app, 'dist/scripts/start.js'))).toBe(true);
    expect(existsSync(join(app, 'dist/workflow-bundle.js'))).toBe(true);
    expect(existsSync(join(app, 'dist/db/migrations/meta/_journal.json'))).toBe(true);
    expect(existsSync(join(app, 'workflows'))).toBe(false);
  });

  it('imports only production dependencies, so the runtime stage (npm ci --omit=dev) has everything it runs', () => {
    const pkg = JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const files = (readdirSync(join(app, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js') && f !== 'workflow-bundle.js');
    const packages = new Set<string>();
    for (const f of files) {
      // Static import/export statements (at the start of a line, so a sentence like "from 'x'" in a string is not one) and import().
      const source = readFileSync(join(app, 'dist', f), 'utf8');
      const specs = [...source.matchAll(/^\s*(?:import\s+(?:[^'";]*?\s+from\s*)?|export\s+[^'";]*?\s+from\s*)['"]([^'".][^'"]*)['"]/gm), ...source.matchAll(/\bimport\s*\(\s*['"]([^'".][^'"]*)['"]\s*\)/g)];
      for (const m of specs) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(packages.size).toBeGreaterThan(5);
    expect([...packages].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });

  it('exits with a clear message when a required variable is missing', async () => {
    const p = start('worker', { DATABASE_URL: 'postgres://127.0.0.1:1/none', APPROVAL_SIGNING_SECRET: 'build-test-signing-secret-0123' });
    expect(await p.exited).toBe(1);
    expect(p.output().trim()).toBe('Missing required configuration: SECRETS_ENCRYPTION_KEY, NETBOX_URL, NETBOX_TOKEN (SECRETS_ENCRYPTION_KEY encrypts the proxbox-api key at rest: generate it once with `openssl rand -base64 32` and keep it)');
  });

  describe('against PostgreSQL and a Temporal dev server', () => {
    let temporal: TemporalDevServer;
    let database: { url: string; drop(): Promise<void> };
    const running: ChildProcess[] = [];
    beforeAll(async () => {
      temporal = await startTemporalDevServer({ port: 0, headless: true, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
      database = await createFreshDatabase('proxbox_build');
    });
    afterAll(async () => {
      for (const c of running) c.kill('SIGKILL');
      await temporal?.stop();
      await database?.drop();
    });

    it('runs the worker on the prebuilt bundle and the API, as two commands of one build', async () => {
      const port = await findFreePort();
      const env = {
        DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace, TEMPORAL_TASK_QUEUE: 'build-test',
        APPROVAL_SIGNING_SECRET: 'build-test-signing-secret-0123', SECRETS_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
        NETBOX_URL: 'http://127.0.0.1:9', NETBOX_TOKEN: 'nbt_unused.unused', NETBOX_WEBHOOK_SECRET: 'build-test-webhook-secret', PORT: String(port), HOST: '127.0.0.1',
      };
      const worker = start('worker', env);
      running.push(worker.child);
      await eventually(async () => (worker.output().includes('worker started') ? true : undefined), 'the compiled worker to start', 120_000);
      expect(worker.output()).toContain(`workflows: prebuilt bundle ${join(app, 'dist/workflow-bundle.js')}`);

      // The bundle runs: a workflow answers a query from the compiled worker.
      const connection = await Connection.connect({ address: temporal.address });
      try {
        const client = new Client({ connection, namespace: temporal.namespace });
        const handle = await client.workflow.start(DeletionWorkflow, {
          taskQueue: 'build-test', workflowId: 'build-test-deletion',
          args: [{ requestId: 1, vmid: 900, node: 'pve01', kind: 'qemu', name: 'bundle-check', requestedBy: 'alice', branchSchemaId: 'b', expiresAtMs: Date.now() + 86_400_000 }],
        });
        expect(await handle.query(deletionStateQuery)).toMatchObject({ requestId: 1, vmid: 900, state: 'pending', requestedBy: 'alice' });
        await handle.terminate('build test over');
      } finally {
        await connection.close();
      }

      const api = start('api', env);
      running.push(api.child);
      await eventually(async () => (api.output().includes('api started') ? true : undefined), 'the compiled API to start', 120_000);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);

      for (const p of [api, worker]) {
        p.child.kill('SIGTERM');
        expect(await p.exited).toBe(0);
      }
    });
  });
});
