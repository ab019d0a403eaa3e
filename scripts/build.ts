import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { REPO_ROOT } from '../runtime/paths';
import { WORKFLOWS_PATH, WORKFLOW_INTERCEPTORS_PATH } from '../runtime/worker';

/**
 * The production build (`npm run build`): compiled JavaScript in dist/ that runs on plain Node 20 (no TypeScript
 * compiler or tsx at run time), the drizzle migrations beside it, and the workflow bundle the worker loads instead of
 * bundling at start. The image runs `node dist/scripts/start.js api|worker`.
 */
const DIST = resolve(REPO_ROOT, 'dist');

rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [resolve(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', resolve(REPO_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });

/**
 * The sources import each other without extensions (the bundler resolution tsx and vitest use); Node's ESM loader
 * wants the file itself, so relative specifiers in the output get theirs (`./x` → `./x.js`, `./dir` → `./dir/index.js`).
 */
const RELATIVE_SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*)\2/g;
function withExtension(file: string, specifier: string): string {
  if (/\.(js|mjs|cjs|json)$/.test(specifier)) return specifier;
  const target = resolve(dirname(file), specifier);
  if (existsSync(`${target}.js`)) return `${specifier}.js`;
  if (existsSync(join(target, 'index.js'))) return `${specifier}/index.js`;
  throw new Error(`${file}: cannot resolve '${specifier}' in the compiled output`);
}
function* jsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* jsFiles(path);
    else if (name.endsWith('.js')) yield path;
  }
}
let rewritten = 0;
for (const file of jsFiles(DIST)) {
  const source = readFileSync(file, 'utf8');
  const out = source.replace(RELATIVE_SPECIFIER, (_m, lead: string, quote: string, spec: string) => `${lead}${quote}${withExtension(file, spec)}${quote}`);
  if (out !== source) { writeFileSync(file, out); rewritten += 1; }
}

// db/client.ts reads the migrations next to itself, and ui/assets.ts the pages' stylesheet and script.
cpSync(resolve(REPO_ROOT, 'db/migrations'), resolve(DIST, 'db/migrations'), { recursive: true });
cpSync(resolve(REPO_ROOT, 'ui/static'), resolve(DIST, 'ui/static'), { recursive: true });

const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH], logger: { log() {}, trace() {}, debug() {}, info() {}, warn: (m) => console.warn(m), error: (m) => console.error(m) } });
// Where runtime/worker.js (PREBUILT_WORKFLOW_BUNDLE) looks for it: dist/runtime/../workflow-bundle.js.
writeFileSync(resolve(DIST, 'workflow-bundle.js'), bundle.code);
console.log(`dist/: compiled (${rewritten} files with rewritten imports), migrations copied, workflow bundle of ${bundle.code.length} bytes`);
