import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.tools/**', 'db/migrations/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Tests read JSON answers whose shape the assertions themselves check.
    files: ['test/**/*.ts', 'test/**/*.tsx', 'bench/**/*.ts', 'chaos/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  ...layerRules(),
);

/**
 * Layers point one way (README "Layout"). Each folder lists the folders it may import; any other folder of ours is
 * a back-arrow and fails `npm run check`. Entry points (runtime, scripts, cli, bench, chaos) wire everything together.
 * Type-only imports cross the Temporal boundary: workflows name their activities' types for proxyActivities, and
 * activities name the workflow types (workflows/types.ts, workflows/definitions.ts) they receive and return.
 */
function layerRules() {
  const folders = ['api', 'ui', 'services', 'workflows', 'activities', 'clients', 'db', 'config', 'infra', 'domain', 'contracts',
    'runtime', 'scripts', 'cli', 'bench', 'chaos', 'simulators', 'test'];
  const below = ['domain', 'contracts'];
  const mayImport = {
    contracts: [],
    domain: ['contracts'],
    infra: below,
    config: ['infra', ...below],
    clients: ['infra', ...below],
    db: ['infra', ...below],
    activities: ['clients', 'db', 'infra', ...below],
    workflows: below,
    services: ['workflows', 'clients', 'db', 'infra', ...below],
    // The operator pages sit beside the API: the app mounts them, they reuse its middleware (never its routes).
    api: ['ui', 'services', 'workflows', 'clients', 'db', 'infra', ...below],
    ui: ['api', 'services', 'workflows', 'clients', 'db', 'infra', ...below],
    simulators: ['infra', ...below],
    runtime: ['api', 'ui', 'services', 'workflows', 'activities', 'clients', 'db', 'config', 'infra', ...below],
    scripts: folders.filter((f) => f !== 'test'),
    cli: folders.filter((f) => f !== 'test' && f !== 'simulators'),
    bench: folders,
    chaos: folders.filter((f) => f !== 'test'),
  };
  // Values from workflows/ only through the Temporal client's contract; the workflow code itself is for types only.
  const workflowContract = { group: ['**/workflows/*', '!**/workflows/definitions', '!**/workflows/types'], allowTypeImports: true, message: 'Outside the worker, import the workflows\' contract (workflows/definitions, workflows/types); workflow code only as types.' };
  const typeOnly = {
    activities: [{ group: ['**/workflows/*'], allowTypeImports: true, message: 'Activities may import workflow types only (workflows/types, workflows/definitions).' }],
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O modules.
    workflows: [
      { group: ['node:*', 'fs', 'crypto', 'http', 'https', 'net'], message: 'Workflows must stay deterministic.' },
      { group: ['**/activities/*', 'ky', 'postgres', 'drizzle-orm*', 'hono*'], message: 'Workflows reach I/O only through activities (import types only).', allowTypeImports: true },
    ],
    services: [workflowContract],
    api: [workflowContract],
    ui: [workflowContract, { group: ['**/api/routes/*'], message: 'The pages call services/ (and the API\'s middleware), never the routes\' internals.' }],
  };
  return Object.entries(mayImport).map(([folder, allowed]) => {
    const forbidden = folders.filter((f) => f !== folder && !allowed.includes(f) && !(typeOnly[folder] ?? []).some((p) => p.group.includes(`**/${f}/*`)));
    const patterns = [...(typeOnly[folder] ?? [])];
    if (forbidden.length) {
      patterns.push({ group: forbidden.map((f) => `**/${f}/*`), message: `Layer rule: ${folder}/ may import only ${allowed.join(', ') || 'nothing of ours'} (see README "Layout").` });
    }
    return { files: [`${folder}/**/*.ts`, `${folder}/**/*.tsx`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
}
