import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (the proxbox-api key): AES-256-GCM with SECRETS_ENCRYPTION_KEY. A stored value reads
 * `enc:v1:<key id>:<iv>:<tag>:<ciphertext>` (base64url parts); the key id is the first 8 hex digits of the key's
 * SHA-256, so a value sealed with a previous key is recognised, opened with SECRETS_ENCRYPTION_KEY_PREVIOUS and
 * sealed again with the current key. `context` (for example `backend.api_key`) is authenticated data: a value cannot be
 * moved to another column and still open.
 */
const PREFIX = 'enc:v1:';
export const SECRET_KEY_BYTES = 32;

export class SecretBoxError extends Error {}

/** Decodes a key given in base64 (standard or URL-safe); null unless it is exactly 32 bytes. */
export function parseSecretKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === SECRET_KEY_BYTES ? bytes : null;
}

/** A new key for SECRETS_ENCRYPTION_KEY (32 random bytes, base64). */
export function newSecretKey(): string {
  return randomBytes(SECRET_KEY_BYTES).toString('base64');
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export class SecretBox {
  private readonly currentId: string;
  private readonly keys: Map<string, Buffer>;

  constructor(current: Buffer, previous?: Buffer | null) {
    if (current.length !== SECRET_KEY_BYTES) throw new SecretBoxError('SECRETS_ENCRYPTION_KEY must be 32 bytes');
    this.currentId = keyId(current);
    this.keys = new Map([[this.currentId, current]]);
    if (previous) this.keys.set(keyId(previous), previous);
  }

  /** From the environment's base64 values; throws with the variable's name when one is not a 32-byte key. */
  static fromBase64(current: string, previous?: string): SecretBox {
    const cur = parseSecretKey(current);
    if (!cur) throw new SecretBoxError('SECRETS_ENCRYPTION_KEY must be 32 random bytes in base64');
    const prev = previous ? parseSecretKey(previous) : null;
    if (previous && !prev) throw new SecretBoxError('SECRETS_ENCRYPTION_KEY_PREVIOUS must be 32 random bytes in base64');
    return new SecretBox(cur, prev);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.currentId}:${iv.toString('base64url')}:${cipher.getAuthTag().toString('base64url')}:${ciphertext.toString('base64url')}`;
  }

  /** The plaintext of a sealed value. A value that is not sealed (written before encryption existed) is returned as is. */
  open(stored: string, context: string): string {
    if (!isSealed(stored)) return stored;
    const [kid, iv, tag, ciphertext] = stored.slice(PREFIX.length).split(':');
    const key = kid ? this.keys.get(kid) : undefined;
    if (!key) {
      throw new SecretBoxError(`The stored ${context} was encrypted with a key (id ${kid ?? '?'}) that is neither SECRETS_ENCRYPTION_KEY nor SECRETS_ENCRYPTION_KEY_PREVIOUS.`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext ?? '', 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`The stored ${context} does not decrypt: it was altered or belongs to another column.`);
    }
  }

  /** Whether a stored value should be sealed again: plaintext, or sealed with a key other than the current one. */
  needsReseal(stored: string): boolean {
    return !stored.startsWith(`${PREFIX}${this.currentId}:`);
  }
}
