import type { z } from 'zod';
import type { E1ErrorItem } from '../../contracts/proxbox-api';

type Loc = (string | number)[];
type Issue = z.core.$ZodIssue;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (Array.isArray(cur) && typeof key === 'number') cur = cur[key];
    else if (isRecord(cur) && typeof key === 'string') cur = cur[key];
    else return undefined;
  }
  return cur;
}

/** Pydantic's rendering of allowed literals: `'a', 'b' or 'c'`. */
export function expectedLiterals(values: readonly unknown[]): string {
  const quoted = values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
  return quoted.length <= 1 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

const LAX_INT = /^\s*[+-]?\d+\s*$/;

interface ItemBody { type: string; msg: string; input: unknown; ctx?: Record<string, unknown> }

function intError(input: unknown): Omit<ItemBody, 'input'> {
  if (typeof input === 'string') {
    return LAX_INT.test(input)
      ? { type: 'int_type', msg: 'Input should be a valid integer' }
      : { type: 'int_parsing', msg: 'Input should be a valid integer, unable to parse string as an integer' };
  }
  if (typeof input === 'number' && !Number.isInteger(input)) {
    return { type: 'int_from_float', msg: 'Input should be a valid integer, got a number with a fractional part' };
  }
  return { type: 'int_type', msg: 'Input should be a valid integer' };
}

const UNION_LABEL: Record<string, string> = { string: 'str', number: 'int', int: 'int', boolean: 'bool', record: 'dict[str,any]', object: 'dict[str,any]', array: 'list' };

/** Options: where the values live (`body`, `query`, `path`) and an optional path rewrite. */
export interface E1Options {
  where: 'body' | 'query' | 'path';
  relocate?: (path: PropertyKey[]) => PropertyKey[];
}

/**
 * Turns zod issues into FastAPI/Pydantic 422 items (`type`, `loc`, `msg`, `input`, `ctx`).
 * `input` is read from the original request at the issue's path; a missing field's input is the
 * object that lacks it (null for query and path parameters), as FastAPI reports it.
 */
export function zodToE1(issues: readonly Issue[], root: unknown, opts: E1Options): E1ErrorItem[] {
  const out: E1ErrorItem[] = [];
  const locOf = (path: PropertyKey[]): Loc => [opts.where, ...(opts.relocate ? opts.relocate(path) : path)].map((k) => (typeof k === 'number' ? k : String(k)));

  const convert = (issue: Issue, base: PropertyKey[]): void => {
    const path = [...base, ...issue.path];
    const input = valueAt(root, path);
    const push = (item: ItemBody, at: PropertyKey[] = path): void => {
      const { type, msg, input: value, ctx } = item;
      out.push({ type, loc: locOf(at), msg, input: value, ...(ctx ? { ctx } : {}) });
    };
    const missing = () => push({ type: 'missing', msg: 'Field required', input: opts.where === 'body' ? valueAt(root, path.slice(0, -1)) : null });

    switch (issue.code) {
      case 'invalid_type': {
        if (input === undefined) return missing();
        const expected = issue.expected as string;
        if (expected === 'number' || expected === 'int') return push({ ...intError(input), input });
        if (expected === 'string') return push({ type: 'string_type', msg: 'Input should be a valid string', input });
        if (expected === 'boolean') return push({ type: 'bool_type', msg: 'Input should be a valid boolean', input });
        if (expected === 'array') return push({ type: 'list_type', msg: 'Input should be a valid list', input });
        if (expected === 'record') return push({ type: 'dict_type', msg: 'Input should be a valid dictionary', input });
        if (expected === 'object') {
          return push({ type: 'model_attributes_type', msg: 'Input should be a valid dictionary or object to extract fields from', input });
        }
        return push({ type: `${expected}_type`, msg: issue.message, input });
      }
      case 'invalid_value': {
        const expected = expectedLiterals(issue.values);
        return push({ type: 'literal_error', msg: `Input should be ${expected}`, input, ctx: { expected } });
      }
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          push({ type: 'extra_forbidden', msg: 'Extra inputs are not permitted', input: valueAt(root, [...path, key]) }, [...path, key]);
        }
        return;
      case 'too_big':
      case 'too_small': {
        const big = issue.code === 'too_big';
        const limit = Number(big ? (issue as { maximum: unknown }).maximum : (issue as { minimum: unknown }).minimum);
        if (issue.origin === 'string') {
          return push(big
            ? { type: 'string_too_long', msg: `String should have at most ${limit} character${limit === 1 ? '' : 's'}`, input, ctx: { max_length: limit } }
            : { type: 'string_too_short', msg: `String should have at least ${limit} character${limit === 1 ? '' : 's'}`, input, ctx: { min_length: limit } });
        }
        if (issue.origin === 'array') {
          return push(big
            ? { type: 'too_long', msg: `List should have at most ${limit} items after validation`, input, ctx: { field_type: 'List', max_length: limit } }
            : { type: 'too_short', msg: `List should have at least ${limit} items after validation`, input, ctx: { field_type: 'List', min_length: limit } });
        }
        return push(big
          ? { type: 'less_than_equal', msg: `Input should be less than or equal to ${limit}`, input, ctx: { le: limit } }
          : { type: 'greater_than_equal', msg: `Input should be greater than or equal to ${limit}`, input, ctx: { ge: limit } });
      }
      case 'invalid_union': {
        if ('discriminator' in issue) {
          if (input === undefined) return missing();
          const expected = expectedLiterals((issue as unknown as { options: unknown[] }).options);
          return push({ type: 'literal_error', msg: `Input should be ${expected}`, input, ctx: { expected } });
        }
        for (const branch of issue.errors) {
          for (const sub of branch) {
            const tag = sub.code === 'invalid_type' ? UNION_LABEL[sub.expected as string] : undefined;
            convert({ ...sub, path: tag ? [tag, ...sub.path] : sub.path } as Issue, path);
          }
        }
        return;
      }
      case 'custom':
        // FastAPI serialises the ValueError in ctx as an empty object.
        return push({ type: 'value_error', msg: `Value error, ${issue.message}`, input, ctx: { error: {} } });
      case 'invalid_format':
        return push({ type: 'string_pattern_mismatch', msg: issue.message, input });
      default:
        return push({ type: issue.code, msg: issue.message, input });
    }
  };

  for (const issue of issues) convert(issue, []);
  return out;
}
