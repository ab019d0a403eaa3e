import 'dotenv/config';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, parseEnv } from '../config/env';
import { openDatabase } from '../db/client';
import { UserStore } from '../db/users';
import { ALL_PERMISSIONS, PermissionName } from '../domain/permissions';
import type { Actor } from '../domain/tokens';
import { DEV_PGLITE_DIR } from '../runtime/paths';

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

Every change is written to the audit log with the actor cli:<your OS user name>.
Uses DATABASE_URL, or the dev stack's embedded database (${DEV_PGLITE_DIR}) when it is unset
(stop the dev stack first: the embedded database serves one process at a time).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      perm: { type: 'string', multiple: true }, description: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      'expires-in-days': { type: 'string' }, 'no-expiry': { type: 'boolean' },
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
  const env = parseEnv(process.env);
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
