/**
 * One worker process of the chaos suite: `npm run start:worker` without the seconds of bundling at each start (the
 * suite bundles the workflows once and passes the file), so a worker killed with SIGKILL is replaced quickly.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from '../config/env';
import { startSystem } from '../runtime/system';
import { installWorkerRuntime } from '../runtime/worker';

installWorkerRuntime('error');
const system = await startSystem({ env: parseEnv(process.env), role: 'worker', bundle: { code: readFileSync(process.env.CHAOS_BUNDLE_PATH!, 'utf8') } });
console.log('worker started');
const stop = () => { void system.stop().then(() => process.exit(0)); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
