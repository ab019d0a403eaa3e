import 'dotenv/config';
import { parseEnv } from '../config/env';
import { openDatabase } from '../db/client';
import { DEV_PGLITE_DIR } from '../runtime/paths';

/** Applies the drizzle migrations (the service also applies them at start). */
const env = parseEnv(process.env);
const database = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, maxConnections: 2 } : { pgliteDir: DEV_PGLITE_DIR });
await database.close();
console.log(`migrations applied to ${env.DATABASE_URL ? 'DATABASE_URL' : DEV_PGLITE_DIR}`);
