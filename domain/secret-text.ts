/**
 * Credentials in free text (error messages, upstream answers, log lines) and under known keys in structured data.
 * Shared by what leaves the service for people to read: NetBox journal entries and the logs.
 */

export const REDACTED = '[redacted]';

/** Keys whose values are secrets wherever they appear (compared case-insensitively, without `-` and `_`). */
const SECRET_KEY_NAMES = [
  'password', 'passwd', 'cipassword', 'secret', 'token', 'apikey', 'xproxboxapikey', 'authorization', 'cookie', 'setcookie',
  'userdata', 'cicustom', 'bootstrapadmintoken', 'approvalsigningsecret', 'netboxwebhooksecret', 'secretsencryptionkey',
  'privatekey', 'clientsecret', 'accesstoken', 'refreshtoken', 'sessiontoken', 'webhooksecret', 'signingsecret', 'tasktoken',
] as const;
const SECRET_KEYS = new Set<string>(SECRET_KEY_NAMES);

/** Whether a field of this name holds a secret (`apiKey`, `api_key`, `X-Proxbox-API-Key`, `cipassword`, `user_data`, …). */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEYS.has(k) || k.endsWith('password') || k.endsWith('secret') || k.endsWith('token') || k.endsWith('apikey');
}

const SECRET_PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Token|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${REDACTED}`],
  [/\bnbt_[A-Za-z0-9]+\.[A-Za-z0-9]+/g, REDACTED],
  [/\b(password|passwd|secret|token|api[_-]?key|cipassword|x-api-key|x-proxbox-api-key)(["']?\s*[:=]\s*["']?)[^\s"',;]+/gi, `$1$2${REDACTED}`],
  // The rest of a YAML `password:` line, as in cloud-init user data (the value may hold spaces).
  [/^(\s*(?:-\s*)?["']?(?:plain_text_)?passw(?:or)?d["']?\s*:\s*)\S[^\r\n]*$/gim, `$1${REDACTED}`],
];

/** Removes anything that looks like a credential from text that people will read (NetBox, logs). */
export function withoutSecrets(text: string): string {
  return SECRET_PATTERNS.reduce((t, [pattern, replacement]) => t.replace(pattern, replacement), text);
}

/**
 * A copy of structured data with every value under a secret key replaced and every string scrubbed by withoutSecrets.
 * Cycles and depth beyond `maxDepth` end as a marker instead of a stack overflow.
 */
export function redactDeep(value: unknown, maxDepth = 8): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return withoutSecrets(v);
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return '[circular]';
    if (depth >= maxDepth) return '[deep]';
    seen.add(v);
    if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1));
    if (v instanceof Error) return { type: v.name, message: errorMessage(v) };
    if (v instanceof Date) return v;
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) out[k] = isSecretKey(k) && item !== null && item !== undefined && item !== '' ? REDACTED : walk(item, depth + 1);
    return out;
  };
  return walk(value, 0);
}

/**
 * An error's message as it may be logged: scrubbed, and for a query error of drizzle (`Failed query: <sql>\nparams:
 * <values>`, values that can hold request data and token hashes) only the driver's own sentence.
 */
export function errorMessage(err: Error): string {
  if (!err.message.startsWith('Failed query: ')) return withoutSecrets(err.message);
  return `database error: ${err.cause instanceof Error ? withoutSecrets(err.cause.message) : 'the query failed'}`;
}
