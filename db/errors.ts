import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * The code of a database error: PostgreSQL's SQLSTATE, or postgres.js's own code for a lost connection. drizzle
 * wraps driver errors, so the code may sit on the error's cause.
 */
export function databaseErrorCode(err: unknown): string | null {
  const code = (e: unknown) => (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : null);
  return code(err) ?? code((err as { cause?: unknown } | null)?.cause);
}

/** Errors one row can cause (SQLSTATE classes 22 data exception and 23 integrity constraint violation). */
export const isRowError = (err: unknown): boolean => /^2[23]/.test(databaseErrorCode(err) ?? '');

/**
 * A database error as it may leave this process (activity failures land in workflow history): drizzle's message
 * carries the whole query and its parameters, which can hold request data; keep only the driver's own sentence and
 * the SQLSTATE. Null when `err` is not a database error.
 */
export function concealedDatabaseError(err: unknown): { message: string; code: string | null } | null {
  if (!(err instanceof DrizzleQueryError)) return null;
  const cause = err.cause instanceof Error ? err.cause.message : 'the query failed';
  const code = databaseErrorCode(err);
  return { message: `database error${code ? ` ${code}` : ''}: ${cause}`, code };
}
