import 'dotenv/config';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { NetboxClient } from '../clients/netbox';
import { ConfigError, parseEnv, type ServiceEnv } from '../config/env';
import { openDatabase } from '../db/client';
import { UserStore } from '../db/users';
import { customFieldsMarkdownTable } from '../domain/intent-custom-fields';
import { ALL_PERMISSIONS, PermissionName } from '../domain/permissions';
import type { Actor } from '../domain/tokens';
import { DEV_PGLITE_DIR } from '../runtime/paths';
import { prepareNetbox, type PreparedField, type PrepareResult } from '../services/netbox-preparation';
import { syncUsersFromNetbox, type UserSyncResult } from '../services/user-sync';

const USAGE = `proxbox-intent admin tool (npm run cli -- <command>)

  user list
  user add <username> [--perm <permission>]...
  user grant <username> --perm <permission> [--perm ...]
  user set <username> [--perm <permission>]...      replace all permissions
  user remove <username>
  token create <username> [--description <text>] [--expires-in-days <n> | --no-expiry]
                                                    prints the token once; without an expiry
                                                    option the settings' tokenLifetimeDays applies
  token list <username>
  token revoke <username> <tokenId>
  permissions                                       lists the permission names
  user sync-from-netbox [--dry-run] [--perm <permission>]...
                                                    creates a user here for each active NetBox user
                                                    missing here (with these permissions, or none; no
                                                    tokens); changes and deletes nothing; reports the
                                                    users only one side has
  netbox prepare [--dry-run]                        creates the intent custom fields NetBox lacks; never
                                                    changes or deletes a field; reports a field whose
                                                    type or object types differ (exit code 1)
  netbox fields                                     the intent custom fields as a Markdown table

Every change is written to the audit log with the actor cli:<your OS user name>.
Uses DATABASE_URL, or the dev stack's embedded database (${DEV_PGLITE_DIR}) when it is unset
(stop the dev stack first: the embedded database serves one process at a time).
The netbox and sync-from-netbox commands use NETBOX_URL and NETBOX_TOKEN (sync reads users/users;
prepare needs extras.view_customfield and extras.add_customfield).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      perm: { type: 'string', multiple: true }, description: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      'expires-in-days': { type: 'string' }, 'no-expiry': { type: 'boolean' }, 'dry-run': { type: 'boolean' },
    },
  });
  const [group, action, ...rest] = positionals;
  if (values.help || !group) { console.log(USAGE); return group ? 0 : 2; }
  if (group === 'permissions') { console.log(ALL_PERMISSIONS.join('\n')); return 0; }

  const perms = (values.perm ?? []).map((p) => {
    const parsed = PermissionName.safeParse(p);
    if (!parsed.success) throw new UsageError(`unknown permission '${p}' (see: npm run cli -- permissions)`);
    return parsed.data;
  });
  const expiresAt = tokenExpiryOption(values['expires-in-days'], values['no-expiry']);
  const dryRun = values['dry-run'] === true;
  const env = parseEnv(process.env);
  if (group === 'netbox') {
    if (action === 'fields') { console.log(customFieldsMarkdownTable()); return 0; }
    if (action !== 'prepare') throw new UsageError(`unknown command '${positionals.join(' ')}'`);
    return printPreparation(await prepareNetbox(netboxClient(env), { dryRun }), dryRun);
  }
  const database = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, maxConnections: 2 } : { pgliteDir: DEV_PGLITE_DIR });
  const users = new UserStore(database.db);
  const by = cliActor();
  try {
    const name = rest[0] ?? '';
    const need = (what: string, v: string | undefined) => { if (!v) throw new UsageError(`${what} is required`); return v; };
    switch (`${group} ${action}`) {
      case 'user list':
        for (const u of await users.list()) console.log(`${u.username}\t${u.permissions.join(',')}`);
        return 0;
      case 'user add': {
        const u = await users.create(need('username', name), perms, by);
        if (!u) throw new UsageError(`user '${name}' already exists`);
        console.log(`added ${u.username}: ${u.permissions.join(', ') || '(no permissions)'}`);
        return 0;
      }
      case 'user grant': case 'user set': {
        const u = action === 'grant' ? await users.grant(need('username', name), perms, by) : await users.setPermissions(need('username', name), perms, by);
        if (!u) throw new UsageError(`no user '${name}'`);
        console.log(`${u.username}: ${u.permissions.join(', ') || '(no permissions)'}`);
        return 0;
      }
      case 'user sync-from-netbox':
        printUserSync(await syncUsersFromNetbox(netboxClient(env), users, { dryRun, permissions: perms, by }), dryRun, perms);
        return 0;
      case 'user remove':
        if (!(await users.delete(need('username', name), by))) throw new UsageError(`no user '${name}'`);
        console.log(`removed ${name}`);
        return 0;
      case 'token create': {
        const t = await users.createToken(need('username', name), { description: values.description ?? 'cli', ...(expiresAt !== undefined ? { expiresAt } : {}) }, by);
        if (!t) throw new UsageError(`no user '${name}'`);
        console.log(`token id ${t.id} (expires ${t.expiresAt?.toISOString() ?? 'never'})\n${t.token}\n(shown once: store it now)`);
        return 0;
      }
      case 'token list':
        for (const t of (await users.listTokens(need('username', name))) ?? []) {
          const state = t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt <= new Date() ? 'expired' : 'active';
          console.log(`${t.id}\t${state}\tissued by ${t.issuedBy}\tcreated ${t.createdAt.toISOString()}\texpires ${t.expiresAt?.toISOString() ?? 'never'}\tlast used ${t.lastUsedAt?.toISOString() ?? 'never'}\t${t.description}`);
        }
        return 0;
      case 'token revoke':
        if (!(await users.revokeToken(need('username', name), need('tokenId', rest[1]), by))) throw new UsageError('no such active token');
        console.log('revoked');
        return 0;
      default:
        throw new UsageError(`unknown command '${positionals.join(' ')}'`);
    }
  } finally {
    await database.close();
  }
}

class UsageError extends Error {}

function netboxClient(env: ServiceEnv): NetboxClient {
  if (!env.NETBOX_URL || !env.NETBOX_TOKEN) throw new UsageError('NETBOX_URL and NETBOX_TOKEN must be set for this command');
  return new NetboxClient({ baseUrl: env.NETBOX_URL, token: env.NETBOX_TOKEN, timeoutMs: env.NETBOX_TIMEOUT_MS, pageSize: env.NETBOX_PAGE_SIZE });
}

/** One line per field; exit code 1 when a field differs or could not be created. */
function printPreparation(result: PrepareResult, dryRun: boolean): number {
  for (const f of result.fields) {
    const name = f.field.name;
    const where = f.field.objectTypes.join(', ');
    switch (f.outcome) {
      case 'created': console.log(`created       ${name} (${f.field.type} on ${where})`); break;
      case 'would_create': console.log(`would create  ${name} (${f.field.type} on ${where})`); break;
      case 'present': console.log(`present       ${name}${f.action === 'present' && f.notes.length ? `: ${f.notes.join('; ')}` : ''}`); break;
      case 'differs': console.log(`DIFFERS       ${name}: ${f.action === 'differs' ? f.problems.join('; ') : ''}; left unchanged, fix it in NetBox`); break;
      case 'failed': console.log(`FAILED        ${name}: ${f.error}`); break;
    }
  }
  const count = (o: PreparedField['outcome']) => result.fields.filter((f) => f.outcome === o).length;
  console.log(`${dryRun ? 'dry run: nothing was changed; ' : ''}${count(dryRun ? 'would_create' : 'created')} ${dryRun ? 'to create' : 'created'}, ${count('present')} present, ${count('differs')} differ, ${count('failed')} failed`);
  return result.ready ? 0 : 1;
}

function printUserSync(result: UserSyncResult, dryRun: boolean, perms: readonly string[]): void {
  const granted = perms.length ? perms.join(', ') : 'no permissions';
  for (const u of dryRun ? result.create : result.created) console.log(`${dryRun ? 'would create' : 'created'}  ${u} (${granted})`);
  for (const u of result.raced) console.log(`exists        ${u} (created by someone else meanwhile; left as it is)`);
  for (const u of result.notCreated) console.log(`not created   ${u.username}: ${u.reason}`);
  for (const u of result.notInNetbox) console.log(`drift         ${u.username} exists here but is ${u.reason === 'not in NetBox' ? 'not in NetBox' : 'inactive in NetBox'}; left as it is`);
  console.log(`${dryRun ? 'dry run: nothing was changed; ' : ''}${(dryRun ? result.create : result.created).length} ${dryRun ? 'to create' : 'created'}, ${result.matched.length} matched, ${result.notCreated.length} not created, ${result.notInNetbox.length} only here`);
}

/** The CLI acts with database access, outside the API: its changes are recorded under the OS user who ran it. */
function cliActor(): Actor {
  let who = 'unknown';
  try { who = userInfo().username; } catch { /* no passwd entry: keep 'unknown' */ }
  return { name: `cli:${who || 'unknown'}`, tokenIssuers: [] };
}

function tokenExpiryOption(days: string | undefined, never: boolean | undefined): Date | null | undefined {
  if (days !== undefined && never) throw new UsageError('use either --expires-in-days or --no-expiry');
  if (never) return null;
  if (days === undefined) return undefined;
  const n = Number(days);
  if (!Number.isInteger(n) || n < 1 || n > 3650) throw new UsageError('--expires-in-days must be a whole number of days from 1 to 3650');
  return new Date(Date.now() + n * 86_400_000);
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigError) console.error(`error: ${err.message}`);
  else console.error('error:', err instanceof Error ? err.message : err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
