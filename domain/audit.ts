import { z } from 'zod';

/**
 * What the audit log keeps of a change: for each field that changed, `{from, to}`. Secrets (any field whose name says
 * the API key, a token, a secret or a password) are never written: a value becomes `"(masked)"`, and null stays null.
 */
export type AuditChanges = Record<string, { from: unknown; to: unknown } | unknown>;

// Names of secret fields (`apiKey`, `token`, `tokenHash`, `…Secret`, `password`), not of fields about them (`apiKeySet`, `tokenLifetimeDays`).
const SECRET_FIELD = /^(api_?key|token|token_?hash|.*secret|.*password|.*passphrase)$/i;
export const MASKED = '(masked)';

export function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name);
}

/** Masks every secret field, at any depth, of what will be written to the audit log. */
export function maskSecrets(value: unknown, field = ''): unknown {
  if (field && isSecretField(field)) {
    const mask = (v: unknown) => (v === null || v === undefined ? null : MASKED);
    // A change of a secret (`{from, to}`) keeps its shape: it shows that the secret was set or changed, never to what.
    if (isChange(value)) return { from: mask(value.from), to: mask(value.to) };
    return mask(value);
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}

function isChange(v: unknown): v is { from: unknown; to: unknown } {
  return Boolean(v) && typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).sort().join() === 'from,to';
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields that differ between `before` and `after` (either may be null for a create or a delete), as
 * `{field: {from, to}}`; a secret field that changed is recorded as changed without either value.
 */
export function diffForAudit(beforeObject: object | null, afterObject: object | null): Record<string, { from: unknown; to: unknown }> {
  const before = beforeObject as Record<string, unknown> | null;
  const after = afterObject as Record<string, unknown> | null;
  const out: Record<string, { from: unknown; to: unknown }> = {};
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const k of keys) {
    const from = before?.[k] ?? null;
    const to = after?.[k] ?? null;
    if (same(from, to)) continue;
    out[k] = isSecretField(k)
      ? { from: from === null ? null : MASKED, to: to === null ? null : MASKED }
      : { from: from instanceof Date ? from.toISOString() : from, to: to instanceof Date ? to.toISOString() : to };
  }
  return out;
}

/** The audit log's filters (the API's query and the audit log page). */
export const AuditFilterFields = {
  actor: z.string().trim().min(1).max(200).optional(),
  /** An exact action (`token.create`) or an area (`token`). */
  action: z.string().trim().min(1).max(100).regex(/^[a-z_]+(\.[a-z_]+)*$/, 'an action such as token.create, or an area such as token').optional(),
  since: z.iso.datetime({ offset: true }).optional(),
};
