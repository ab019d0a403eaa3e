import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DATA_DIR = resolve(REPO_ROOT, '.data');
export const DEV_PGLITE_DIR = resolve(DATA_DIR, 'pglite');
export const DEV_TEMPORAL_DB = resolve(DATA_DIR, 'temporal.sqlite');
export const DEV_SECRETS_FILE = resolve(DATA_DIR, 'dev-secrets.json');
