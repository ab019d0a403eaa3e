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
