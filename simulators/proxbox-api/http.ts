import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import type { E1ErrorItem } from '../../contracts/proxbox-api';
import { zodToE1, type E1Options } from './validation';

export const e1 = (c: Context, errors: E1ErrorItem[]) => c.json({ detail: errors }, 422);
export const e2 = (c: Context, status: number, detail: string) => c.json({ detail }, status as ContentfulStatusCode);
export const e3 = (c: Context, status: number, body: { reason: string; detail: string; endpoint_id?: number; endpoint_ids?: number[] }) =>
  c.json(body, status as ContentfulStatusCode);
export const e4 = (c: Context, status: number, message: string, detail: unknown = null) =>
  c.json({ message, detail, python_exception: null }, status as ContentfulStatusCode);
export const e5 = (c: Context) =>
  c.json({ message: 'Internal server error', detail: 'An unexpected error occurred.', python_exception: null }, 500);

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: E1ErrorItem[] };

/** Reads the JSON body the way FastAPI does: a missing body is `missing`, bad JSON is `json_invalid`. */
export async function readJsonBody(c: Context): Promise<Parsed<unknown>> {
  const raw = await c.req.text();
  if (!raw.trim()) return { ok: false, errors: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] };
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false, errors: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } }] };
  }
}

/** Validates a JSON body against a contract schema and converts zod issues into E1 items. */
export async function parseBody<S extends z.ZodType>(c: Context, schema: S, opts: Omit<E1Options, 'where'> = {}): Promise<Parsed<z.infer<S>>> {
  const body = await readJsonBody(c);
  if (!body.ok) return body;
  const result = schema.safeParse(body.value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, errors: zodToE1(result.error.issues, body.value, { where: 'body', ...opts }) };
}

const INT = /^\s*[+-]?\d+\s*$/;

/** An int query or path parameter; `undefined` when absent and optional. */
export function intParam(raw: string | undefined, where: 'query' | 'path', name: string, required: boolean): Parsed<number | undefined> {
  if (raw === undefined) {
    return required ? { ok: false, errors: [{ type: 'missing', loc: [where, name], msg: 'Field required', input: null }] } : { ok: true, value: undefined };
  }
  if (!INT.test(raw)) {
    return { ok: false, errors: [{ type: 'int_parsing', loc: [where, name], msg: 'Input should be a valid integer, unable to parse string as an integer', input: raw }] };
  }
  return { ok: true, value: Number(raw.trim()) };
}

/** Collects the errors of several parsed parameters; FastAPI reports them all at once. */
export function errorsOf(...parsed: Parsed<unknown>[]): E1ErrorItem[] {
  return parsed.flatMap((p) => (p.ok ? [] : p.errors));
}

export const actorOf = (c: Context) => c.req.header('x-proxbox-actor') || 'proxbox-api';

/** A path parameter of a route the handler was registered for (always present). */
export const pathParam = (c: Context, name: string): string => c.req.param(name) ?? '';
