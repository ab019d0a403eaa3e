import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema';
import { leasedLocks, type LeaseOptions, type WriteLocks } from './locks';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  /** Subscribes to a NOTIFY channel; resolves once listening, returns the unsubscribe function. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  kind: 'postgres' | 'pglite';
  locks: WriteLocks;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Opens PostgreSQL at `url` (postgres.js), or, without one, an embedded PGlite stored in `pgliteDir`
 * so that the dev stack needs no database server. Migrations are applied before it is returned.
 */
export async function openDatabase(opts: { url?: string; pgliteDir?: string; maxConnections?: number; leases?: LeaseOptions }): Promise<Database> {
  if (opts.url) return openPostgres(opts.url, opts.maxConnections ?? 10, opts.leases);
  if (!opts.pgliteDir) throw new Error('openDatabase needs a DATABASE_URL or an embedded database folder');
  return openPglite(opts.pgliteDir, opts.leases);
}

async function openPostgres(url: string, max: number, leases: LeaseOptions | undefined): Promise<Database> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { migrate } = await import('drizzle-orm/postgres-js/migrator');
  const sql = postgres(url, { max, onnotice: () => {} });
  const db = drizzle(sql, { schema });
  await migrateWithLock(sql, () => migrate(db, { migrationsFolder }));
  return {
    db: db as unknown as Db,
    kind: 'postgres',
    locks: leasedLocks(db as unknown as Db, leases),
    async listen(channel, onPayload) {
      const sub = await sql.listen(channel, onPayload);
      return () => sub.unlisten();
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Several API and worker processes may start at once; one advisory lock serialises their migrations. */
async function migrateWithLock(sql: import('postgres').Sql, run: () => Promise<void>): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(7460151)`;
    await run();
  });
}

async function openPglite(dir: string, leases: LeaseOptions | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  mkdirSync(dir, { recursive: true });
  const client = await PGlite.create(dir);
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder });
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    locks: leasedLocks(db as unknown as Db, leases),
    async listen(channel, onPayload) {
      const unsub = await client.listen(channel, onPayload);
      return () => unsub();
    },
    close: () => client.close(),
  };
}

export { schema };
