import { z } from 'zod';
import { ProblemError } from './problem';

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    return schema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new ProblemError(422, 'invalid_cursor', 'The cursor is not valid; use nextCursor from a previous page.');
  }
}

export function page<T>(items: T[], limit: number, cursorOf: (last: T) => unknown): { items: T[]; nextCursor: string | null } {
  const last = items.length === limit ? items[items.length - 1] : undefined;
  return { items, nextCursor: last === undefined ? null : encodeCursor(cursorOf(last)) };
}
