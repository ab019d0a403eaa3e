import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';

/** Metadata of an encrypted payload: everything else about the original payload is inside the ciphertext. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const CIPHER = 'AES-256-GCM';
const META_CIPHER = 'encryption-cipher';
const META_KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A key given in configuration: exactly 32 bytes in standard base64 (`openssl rand -base64 32`), else null. */
export function decodePayloadKey(base64: string): Buffer | null {
  const trimmed = base64.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed, 'base64');
  return key.length === KEY_BYTES && key.toString('base64') === trimmed ? key : null;
}

/**
 * A key's id, stored with every payload it encrypts so that a process holding several keys (during a rotation) knows
 * which one to use. Derived from the key, so the configuration needs no separate id; a SHA-256 prefix reveals nothing
 * useful about 32 random bytes.
 */
export function payloadKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** A payload this process cannot decrypt; the message names the reason, never the content. */
export class PayloadDecryptionError extends Error {}

const isEncrypted = (p: Payload) => p.metadata?.encoding !== undefined && text.decode(p.metadata.encoding) === ENCRYPTED_ENCODING;

/**
 * Encrypts every payload (workflow and activity inputs and results, signals, updates, queries, heartbeats, memos and
 * the summaries of activities) with AES-256-GCM before it leaves the process, so Temporal's history holds ciphertext.
 * The whole original payload (its metadata and data) is encrypted; the key id is authenticated with it.
 * Decoding leaves unencrypted payloads as they are: histories written before encryption was switched on still replay.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  readonly activeKeyId: string;
  private readonly activeKey: Buffer;

  /** `active` encrypts; `decryptOnly` are older (or, during a rotation, newer) keys that are only used to decrypt. */
  constructor(active: Buffer, decryptOnly: readonly Buffer[] = []) {
    for (const key of [active, ...decryptOnly]) {
      if (key.length !== KEY_BYTES) throw new Error(`a payload encryption key must be ${KEY_BYTES} bytes`);
      this.keys.set(payloadKeyId(key), key);
    }
    this.activeKey = active;
    this.activeKeyId = payloadKeyId(active);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  encrypt(payload: Payload): Payload {
    const plain = utf8.encode(JSON.stringify({
      metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
    }));
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.activeKey, iv);
    cipher.setAAD(utf8.encode(this.activeKeyId));
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8.encode(ENCRYPTED_ENCODING), [META_CIPHER]: utf8.encode(CIPHER), [META_KEY_ID]: utf8.encode(this.activeKeyId) },
      data: sealed,
    };
  }

  decrypt(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const cipherName = payload.metadata?.[META_CIPHER] ? text.decode(payload.metadata[META_CIPHER]) : '';
    if (cipherName !== CIPHER) throw new PayloadDecryptionError(`payload is encrypted with '${cipherName.slice(0, 40)}', not ${CIPHER}`);
    const keyId = payload.metadata?.[META_KEY_ID] ? text.decode(payload.metadata[META_KEY_ID]) : '';
    const key = this.keys.get(keyId);
    if (!key) {
      throw new PayloadDecryptionError(`payload is encrypted with key ${keyId.slice(0, 40) || '(none)'}, which this process does not hold: ` +
        'add that key to TEMPORAL_PAYLOAD_DECRYPTION_KEYS');
    }
    const sealed = Buffer.from(payload.data ?? new Uint8Array());
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('payload is too short to be an encrypted payload');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
      decipher.setAAD(utf8.encode(keyId));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      const inner = JSON.parse(plain.toString('utf8')) as { metadata: Record<string, string>; data: string };
      return {
        metadata: Object.fromEntries(Object.entries(inner.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
        data: new Uint8Array(Buffer.from(inner.data, 'base64')),
      };
    } catch {
      throw new PayloadDecryptionError(`payload does not decrypt with key ${keyId}: it was altered or is not ours`);
    }
  }
}

export interface PayloadEncryptionConfig {
  TEMPORAL_PAYLOAD_ENCRYPTION_KEY?: string | undefined;
  TEMPORAL_PAYLOAD_DECRYPTION_KEYS?: string | undefined;
}

/** The codec the configuration asks for, or null when payload encryption is off (no TEMPORAL_PAYLOAD_ENCRYPTION_KEY). */
export function payloadCodecFromConfig(config: PayloadEncryptionConfig): AesGcmPayloadCodec | null {
  if (!config.TEMPORAL_PAYLOAD_ENCRYPTION_KEY) return null;
  const active = decodePayloadKey(config.TEMPORAL_PAYLOAD_ENCRYPTION_KEY);
  if (!active) throw new Error('TEMPORAL_PAYLOAD_ENCRYPTION_KEY must be 32 bytes in base64');
  const older = splitKeyList(config.TEMPORAL_PAYLOAD_DECRYPTION_KEYS).map((k) => decodePayloadKey(k));
  if (older.some((k) => k === null)) throw new Error('TEMPORAL_PAYLOAD_DECRYPTION_KEYS must be comma-separated 32-byte keys in base64');
  return new AesGcmPayloadCodec(active, older as Buffer[]);
}

export const splitKeyList = (list: string | undefined): string[] => (list ?? '').split(',').map((k) => k.trim()).filter(Boolean);

/** The data converter every Temporal client and worker of the service uses. */
export function temporalDataConverter(codec: PayloadCodec | null): { payloadCodecs: PayloadCodec[] } | undefined {
  return codec ? { payloadCodecs: [codec] } : undefined;
}
