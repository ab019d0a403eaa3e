/** django-filter style filtering, DRF ordering and NetBox limit/offset pagination (netbox.md §1). */
import { parseIsoToEpochMicros } from '../../contracts/netbox';

type Scalar = string | number | boolean | null | undefined;

export type FilterSpec<T> =
  /** Repeatable numbers (OR), with __gte/__lte/__gt/__lt. */
  | { type: 'number'; get: (item: T) => number | null | undefined }
  /** Repeatable model references: each value must resolve to an existing object, else 400. */
  | { type: 'ref'; get: (item: T) => Scalar; resolve: (raw: string) => Scalar | undefined; numeric?: boolean }
  /** Repeatable choices: an unknown value gives 400. */
  | { type: 'choice'; get: (item: T) => Scalar; choices: readonly string[] }
  /** Repeatable exact strings. */
  | { type: 'exact'; get: (item: T) => Scalar; caseInsensitive?: boolean }
  /** `q`: case-insensitive substring over several fields. */
  | { type: 'search'; get: (item: T) => Scalar[] }
  /** Datetimes in microseconds, with __gte/__lte/__gt/__lt; an unparsable value gives 400. */
  | { type: 'datetime'; get: (item: T) => number | null }
  /** The item holds a list (tags, object types): any value matches, or every value when conjoined (NetBox's tag filter). */
  | { type: 'contains'; get: (item: T) => string[]; conjoined?: boolean; valid?: (raw: string) => boolean }
  /** true/false/1/0; any other value is ignored, as Django's NullBooleanField does. */
  | { type: 'boolean'; get: (item: T) => boolean | null };

export type FilterErrors = Record<string, string[]>;

const LOOKUPS = ['gte', 'lte', 'gt', 'lt'] as const;
type Lookup = (typeof LOOKUPS)[number];

function compare(lookup: Lookup, a: number, b: number): boolean {
  switch (lookup) {
    case 'gte': return a >= b;
    case 'lte': return a <= b;
    case 'gt': return a > b;
    case 'lt': return a < b;
  }
}

function parseBool(raw: string): boolean | null {
  if (['true', 'True', '1'].includes(raw)) return true;
  if (['false', 'False', '0'].includes(raw)) return false;
  return null;
}

const invalidChoice = (v: string) => `Select a valid choice. ${v} is not one of the available choices.`;

/** Applies every recognised parameter; unknown parameters are ignored, as django-filter does. */
export function applyFilters<T>(items: T[], params: URLSearchParams, specs: Record<string, FilterSpec<T>>): { items: T[] } | { errors: FilterErrors } {
  const errors: FilterErrors = {};
  const predicates: Array<(item: T) => boolean> = [];
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name).filter((v) => v !== '');
    if (!values.length) continue;
    const [base = '', lookup] = name.split('__') as [string, string | undefined];
    const spec = specs[base];
    if (!spec) continue;
    const err = (msg: string) => { (errors[name] ??= []).push(msg); };

    if (lookup !== undefined) {
      if (!(LOOKUPS as readonly string[]).includes(lookup) || (spec.type !== 'number' && spec.type !== 'datetime')) continue;
      const raw = values[values.length - 1]!;
      const bound = spec.type === 'number' ? Number(raw) : parseIsoToEpochMicros(raw, { assumeUtc: true, allowDateOnly: true });
      if (bound === null || !Number.isFinite(bound)) { err(spec.type === 'number' ? 'Enter a number.' : 'Enter a valid date/time.'); continue; }
      predicates.push((item) => {
        const v = spec.get(item);
        return v !== null && v !== undefined && compare(lookup as Lookup, v, bound);
      });
      continue;
    }

    switch (spec.type) {
      case 'number': {
        const nums = values.map(Number);
        if (nums.some((n) => !Number.isFinite(n))) { err('Enter a number.'); break; }
        predicates.push((item) => nums.includes(spec.get(item) as number));
        break;
      }
      case 'ref': {
        const resolved: Scalar[] = [];
        for (const v of values) {
          if (spec.numeric && !/^\d+$/.test(v)) { err(`“${v}” is not a valid value.`); continue; }
          const r = spec.resolve(v);
          if (r === undefined) err(invalidChoice(v)); else resolved.push(r);
        }
        predicates.push((item) => resolved.includes(spec.get(item)));
        break;
      }
      case 'choice': {
        const bad = values.filter((v) => !spec.choices.includes(v));
        if (bad.length) { for (const v of bad) err(invalidChoice(v)); break; }
        predicates.push((item) => values.includes(String(spec.get(item))));
        break;
      }
      case 'exact': {
        const norm = (v: Scalar) => (spec.caseInsensitive ? String(v).toLowerCase() : String(v));
        const wanted = values.map(norm);
        predicates.push((item) => { const v = spec.get(item); return v !== null && v !== undefined && wanted.includes(norm(v)); });
        break;
      }
      case 'search': {
        const needle = values[values.length - 1]!.toLowerCase();
        predicates.push((item) => spec.get(item).some((v) => v !== null && v !== undefined && String(v).toLowerCase().includes(needle)));
        break;
      }
      case 'datetime': {
        const times = values.map((v) => parseIsoToEpochMicros(v, { assumeUtc: true, allowDateOnly: true }));
        if (times.some((t) => t === null)) { err('Enter a valid date/time.'); break; }
        predicates.push((item) => times.includes(spec.get(item)));
        break;
      }
      case 'contains': {
        const bad = spec.valid ? values.filter((v) => !spec.valid!(v)) : [];
        if (bad.length) { for (const v of bad) err(invalidChoice(v)); break; }
        predicates.push((item) => {
          const held = spec.get(item);
          return spec.conjoined ? values.every((v) => held.includes(v)) : values.some((v) => held.includes(v));
        });
        break;
      }
      case 'boolean': {
        const b = parseBool(values[values.length - 1]!);
        if (b !== null) predicates.push((item) => spec.get(item) === b);
        break;
      }
    }
  }
  if (Object.keys(errors).length) return { errors };
  return { items: items.filter((item) => predicates.every((p) => p(item))) };
}

/** Compares like PostgreSQL: NULL sorts after every value, so `-merged_time` lists unmerged branches first. */
function compareValues(a: unknown, b: unknown): number {
  const an = a === null || a === undefined, bn = b === null || b === undefined;
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

/** `ordering=a,-b`; unknown fields are dropped (DRF OrderingFilter). The pk breaks ties. */
export function applyOrdering<T>(items: T[], param: string | null, fields: Record<string, (item: T) => unknown>, defaults: string[], pk: (item: T) => number): T[] {
  const known = (terms: string[]) => terms.map((s) => s.trim()).filter((s) => fields[s.replace(/^-/, '')]);
  let terms = known((param ?? '').split(','));
  if (!terms.length) terms = known(defaults);
  const keys = terms.map((t) => ({ get: fields[t.replace(/^-/, '')]!, desc: t.startsWith('-') }));
  return [...items].sort((x, y) => {
    for (const k of keys) {
      const c = compareValues(k.get(x), k.get(y));
      if (c !== 0) return k.desc ? -c : c;
    }
    return pk(x) - pk(y);
  });
}

export const DEFAULT_LIMIT = 50;
export const MAX_PAGE_SIZE = 1000;

/** NetBox's OptionalLimitOffsetPagination: limit=0 means the maximum page size; bad values fall back. */
export function pageBounds(params: URLSearchParams): { limit: number; offset: number } {
  let limit = DEFAULT_LIMIT;
  const rawLimit = params.get('limit');
  if (rawLimit !== null && /^\d+$/.test(rawLimit)) {
    const n = Number(rawLimit);
    limit = n === 0 ? MAX_PAGE_SIZE : Math.min(n, MAX_PAGE_SIZE);
  }
  const rawOffset = params.get('offset');
  const offset = rawOffset !== null && /^\d+$/.test(rawOffset) ? Number(rawOffset) : 0;
  return { limit, offset };
}

/** Rebuilds the query with sorted keys (DRF replace_query_param) on NetBox's own idea of its base URL. */
function pageLink(base: string, path: string, params: URLSearchParams, set: Record<string, number | null>): string {
  const entries = new Map<string, string[]>();
  for (const [k, v] of params) entries.set(k, [...(entries.get(k) ?? []), v]);
  for (const [k, v] of Object.entries(set)) {
    if (v === null) entries.delete(k); else entries.set(k, [String(v)]);
  }
  const query = new URLSearchParams();
  for (const k of [...entries.keys()].sort()) for (const v of entries.get(k)!) query.append(k, v);
  const qs = query.toString();
  return `${base}${path}${qs ? `?${qs}` : ''}`;
}

export function paginate<T>(items: T[], params: URLSearchParams, base: string, path: string): { count: number; next: string | null; previous: string | null; results: T[] } {
  const { limit, offset } = pageBounds(params);
  const count = items.length;
  const next = offset + limit < count ? pageLink(base, path, params, { limit, offset: offset + limit }) : null;
  let previous: string | null = null;
  if (offset > 0) previous = offset - limit <= 0 ? pageLink(base, path, params, { limit, offset: null }) : pageLink(base, path, params, { limit, offset: offset - limit });
  return { count, next, previous, results: items.slice(offset, offset + limit) };
}
