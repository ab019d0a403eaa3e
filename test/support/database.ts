/** Tests and benchmarks share one way to get a database of their own (infra/scratch-database.ts). */
export { TEST_PG_ADMIN_URL, createFreshDatabase } from '../../infra/scratch-database';
