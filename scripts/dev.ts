import 'dotenv/config';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { backendUrlPolicy, parseEnv, type ServiceEnv } from '../config/env';
import type { JobView } from '../api/views';
import type { Db } from '../db/client';
import { EndpointStore } from '../db/endpoints';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { INTENT_PERMISSIONS } from '../domain/permissions';
import { newSecretKey, type SecretBox } from '../domain/secret-box';
import { systemActor } from '../domain/tokens';
import { startTemporalDevServer, type TemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { DATA_DIR, DEV_PGLITE_DIR, DEV_SECRETS_FILE, DEV_TEMPORAL_DB } from '../runtime/paths';
import { startSystem } from '../runtime/system';
import { createNetboxSimulator } from '../simulators/netbox';
import { createProxboxSimulator } from '../simulators/proxbox-api';

/**
 * `npm run dev`: the whole stack on one machine (Temporal dev server with its UI, embedded PostgreSQL unless
 * DATABASE_URL is set, worker, API, and the NetBox and proxbox-api simulators unless real systems are configured),
 * then the main job: merge a demonstration branch and show where to look.
 */
interface DevSecrets {
  webhookSecret: string; approvalSecret: string; adminToken: string; tokens: Record<string, string>;
  /** SECRETS_ENCRYPTION_KEY of the dev stack (added to older files on their next start). */
  encryptionKey?: string;
}

const say = (line = '') => console.log(line);
const secret = () => randomBytes(24).toString('base64url');

async function main() {
  mkdirSync(DATA_DIR, { recursive: true });
  const secrets: DevSecrets = existsSync(DEV_SECRETS_FILE)
    ? JSON.parse(readFileSync(DEV_SECRETS_FILE, 'utf8'))
    : { webhookSecret: secret(), approvalSecret: secret(), adminToken: `pbi_${secret()}`, tokens: {} };
  secrets.encryptionKey ??= newSecretKey();
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => { for (const s of stoppers.reverse()) await s().catch(() => {}); };
  let stopping = false;
  const onSignal = () => {
    if (stopping) {
      say('Stopping at once: activities still running are abandoned (Temporal resumes them at the next start).');
      process.exit(1);
    }
    stopping = true;
    say('\nStopping everything (running activities may finish first; Ctrl-C again to stop at once)…');
    void stopAll().then(() => { say('Stopped. Your data stays in .data/ for the next start.'); process.exit(0); });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let uiUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
  if (!temporalAddress) {
    say('Starting the Temporal dev server (state in .data/temporal.sqlite)…');
    const server: TemporalDevServer = await startTemporalDevServer({ dbFile: DEV_TEMPORAL_DB, port: 7233, uiPort: 8233, searchAttributes: SEARCH_ATTRIBUTES, log: () => {} });
    stoppers.push(() => server.stop());
    temporalAddress = server.address;
    uiUrl = server.uiUrl ?? uiUrl;
  }

  const simulated = !process.env.NETBOX_URL && !process.env.PROXBOX_API_URL;
  const netbox = simulated ? createNetboxSimulator({ demo: true }) : null;
  const proxbox = simulated ? createProxboxSimulator({ capabilities: { registerDeletion: true, taskStatus: true }, taskDurationMs: 1500 }) : null;
  let netboxUrl = process.env.NETBOX_URL;
  let proxboxUrl = process.env.PROXBOX_API_URL;
  if (netbox && proxbox) {
    proxbox.cluster.seedDemoCluster();
    netboxUrl = (await netbox.listen(Number(process.env.NETBOX_SIM_PORT ?? 8001))).url;
    proxboxUrl = (await proxbox.listen(Number(process.env.PROXBOX_SIM_PORT ?? 8002))).url;
    stoppers.push(() => netbox.close(), async () => proxbox.close?.());
    say(`Simulators: NetBox ${netboxUrl}, proxbox-api ${proxboxUrl}`);
  }

  const env = parseEnv({
    ...process.env,
    PORT: process.env.PORT ?? '8080',
    // Links in NetBox journal entries lead to this API's pages.
    PUBLIC_URL: process.env.PUBLIC_URL ?? `http://127.0.0.1:${process.env.PORT ?? '8080'}`,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_UI_URL: uiUrl,
    NETBOX_URL: netboxUrl,
    NETBOX_TOKEN: process.env.NETBOX_TOKEN ?? 'nbt_simkey.simtoken',
    NETBOX_WEBHOOK_SECRET: process.env.NETBOX_WEBHOOK_SECRET ?? secrets.webhookSecret,
    APPROVAL_SIGNING_SECRET: process.env.APPROVAL_SIGNING_SECRET ?? secrets.approvalSecret,
    BOOTSTRAP_ADMIN_TOKEN: process.env.BOOTSTRAP_ADMIN_TOKEN ?? secrets.adminToken,
    PROXBOX_API_URL: proxboxUrl,
    PROXBOX_API_KEY: process.env.PROXBOX_API_KEY ?? 'sim-proxbox-key',
    SECRETS_ENCRYPTION_KEY: process.env.SECRETS_ENCRYPTION_KEY ?? secrets.encryptionKey,
    // The simulators speak plain http on loopback; a real proxbox-api keeps the https-only default unless told otherwise.
    PROXBOX_API_ALLOW_HTTP: process.env.PROXBOX_API_ALLOW_HTTP ?? (simulated ? 'true' : undefined),
  });
  say(env.DATABASE_URL ? 'Database: DATABASE_URL' : 'Database: embedded PostgreSQL (PGlite) in .data/pglite');
  // Kept before anything is sealed with it: the stored proxbox-api key must open on the next start.
  writeFileSync(DEV_SECRETS_FILE, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  const system = await startSystem({ env, role: 'all', pgliteDir: DEV_PGLITE_DIR });
  stoppers.push(() => system.stop());
  const api = system.apiUrl!;

  if (simulated) await seedDevData(system.database.db, system.secrets, env, secrets, proxboxUrl!);
  writeFileSync(DEV_SECRETS_FILE, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  say(`API: ${api}  (docs ${api}/docs)   Temporal UI: ${uiUrl}`);

  if (!netbox) {
    sayPagesSignIn(api, secrets.tokens);
    say('Real NetBox configured: waiting for branch_merged webhooks at POST /api/v1/hooks/netbox. Ctrl-C stops everything.');
    return;
  }
  netbox.addWebhookTarget({ url: `${api}/api/v1/hooks/netbox`, secret: env.NETBOX_WEBHOOK_SECRET! });
  const { branch } = netbox.buildDemoBranch({ name: `add-web-vms-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}` });
  say(`\nMain job: merging the demonstration branch '${branch.name}' (#${branch.id}) as alice…`);
  await netbox.mergeBranch(branch.id, 'alice');
  const job = await waitForJob(api, secrets.adminToken, branch.id);
  say(`\nApply job ${job.id}: ${job.state}`);
  for (const [key, r] of Object.entries(job.perVmResults ?? {})) {
    say(`  ${key.padEnd(8)} ${String(r.op).padEnd(7)} ${String(r.kind).padEnd(5)} ${String(r.vmid).padEnd(4)} ${String(r.name).padEnd(12)} ${r.status}${r.message ? ` — ${r.message}` : ''}`);
  }
  say(`\nWhere to look:`);
  say(`  the job:          curl -s -H "Authorization: Bearer $(node -p "require('./.data/dev-secrets.json').tokens.carol")" ${api}/api/v1/apply-jobs/${job.id}`);
  say(`  live log (SSE):   ${api}/api/v1/apply-jobs/${job.id}/events`);
  say(`  the run:          ${job.temporalUrl}`);
  const pending = Object.values(job.perVmResults ?? {}).filter((r) => r.deletionRequestId);
  for (const r of pending) {
    say(`  pending deletion: request ${r.deletionRequestId} (${r.kind} ${r.vmid} ${r.name}) waits for a second user. Approve it as bob:`);
    say(`    curl -s -X POST -H "Authorization: Bearer $(node -p "require('./.data/dev-secrets.json').tokens.bob")" -H 'content-type: application/json' \\`);
    say(`      -d '{"vmid": ${r.vmid}}' ${api}/api/v1/deletion-requests/${r.deletionRequestId}/approve`);
    say(`    (alice holds authorize_deletion_request too, but she merged the branch: her approval is refused, four eyes)`);
  }
  say(`  in a browser:     ${api}/ui/apply-jobs/${job.id}`);
  sayPagesSignIn(api, secrets.tokens);
  say(`\nTokens for admin, alice, bob and carol are in .data/dev-secrets.json. Ctrl-C stops everything.`);
}

/** The operator pages and who can sign in to them (dev stack only: these tokens are also in .data/dev-secrets.json). */
function sayPagesSignIn(api: string, tokens: Record<string, string>) {
  say(`\nOperator pages: ${api}/ui  — sign in with a username and its token:`);
  for (const [name, token] of Object.entries(tokens)) say(`  ${name.padEnd(6)} ${token}`);
}

async function seedDevData(db: Db, box: SecretBox, env: ServiceEnv, secrets: DevSecrets, proxboxUrl: string) {
  const users = new UserStore(db);
  const by = systemActor('dev-stack');
  const people: Record<string, string[]> = {
    // alice may authorise deletions too, so the demo shows the four-eyes rule refusing her own request.
    alice: [...INTENT_PERMISSIONS, 'view', 'trigger_apply'],
    bob: ['authorize_deletion_request', 'view'],
    carol: ['view'],
  };
  secrets.tokens.admin = secrets.adminToken;
  for (const [name, perms] of Object.entries(people)) {
    if (await users.create(name, perms, by)) secrets.tokens[name] = (await users.createToken(name, { description: 'dev stack' }, by))!.token;
  }
  const settings = new SettingsStore(db);
  if (!(await settings.get()).netboxToProxmoxEnabled) await settings.update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, by);
  const endpoints = new EndpointStore(db, { secrets: box, urlPolicy: backendUrlPolicy(env) });
  await endpoints.putBackend({ url: proxboxUrl, apiKey: 'sim-proxbox-key' }, by);
  if ((await endpoints.list()).length === 0) {
    await endpoints.create({ name: 'lab', backendEndpointId: 1, allowWrites: true, clusters: ['lab-cluster', '5'], isDefault: true, defaultBridge: 'vmbr0' }, by);
  }
}

async function waitForJob(api: string, token: string, branchId: number): Promise<JobView> {
  const headers = { authorization: `Bearer ${token}` };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const list = await (await fetch(`${api}/api/v1/apply-jobs?branchId=${branchId}`, { headers })).json() as { items?: JobView[] };
    const job = list.items?.[0];
    if (job && ['succeeded', 'partial', 'failed'].includes(job.state)) {
      return (await fetch(`${api}/api/v1/apply-jobs/${job.id}`, { headers })).json() as Promise<JobView>;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the demonstration apply did not finish within 2 minutes');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
