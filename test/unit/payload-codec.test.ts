import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { ConfigError, parseEnv } from '../../config/env';
import {
  AesGcmPayloadCodec, ENCRYPTED_ENCODING, PayloadDecryptionError, decodePayloadKey, payloadCodecFromConfig, payloadKeyId,
} from '../../infra/payload-codec';
import { temporalConnectionOptions } from '../../config/temporal-connection';

const key = () => randomBytes(32);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('latin1');
const payloadOf = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const SECRET_INPUT = { name: 'web-03', user_data: 'root:Hunter2' };

describe('the AES-256-GCM payload codec', () => {
  it('encrypts the whole payload (data and metadata) and decrypts it back exactly', async () => {
    const codec = new AesGcmPayloadCodec(key());
    const original = payloadOf(SECRET_INPUT);
    const [sealed] = await codec.encode([original]);
    expect(text(sealed!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata!['encryption-key-id'])).toBe(codec.activeKeyId);
    expect(text(sealed!.data)).not.toContain('web-03');
    expect(text(sealed!.data)).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(SECRET_INPUT);
    expect(opened).toEqual(original);
    // A fresh IV each time: the same value never gives the same ciphertext.
    expect(text((await codec.encode([original]))[0]!.data)).not.toBe(text(sealed!.data));
  });

  it('leaves payloads that were never encrypted as they are (histories from before the switch still replay)', async () => {
    const plain = payloadOf(SECRET_INPUT);
    expect(await new AesGcmPayloadCodec(key()).decode([plain])).toEqual([plain]);
  });

  it('rotates: a new key decrypts with the old one kept for decryption, and names the missing key otherwise', async () => {
    const oldKey = key();
    const newKey = key();
    const [fromOld] = await new AesGcmPayloadCodec(oldKey).encode([payloadOf(SECRET_INPUT)]);
    const rotated = new AesGcmPayloadCodec(newKey, [oldKey]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode([fromOld!]))[0]!)).toEqual(SECRET_INPUT);
    expect(text((await rotated.encode([payloadOf(1)]))[0]!.metadata!['encryption-key-id'])).toBe(payloadKeyId(newKey));
    await expect(new AesGcmPayloadCodec(newKey).decode([fromOld!])).rejects.toThrow(
      `payload is encrypted with key ${payloadKeyId(oldKey)}, which this process does not hold: add that key to TEMPORAL_PAYLOAD_DECRYPTION_KEYS`);
  });

  it('refuses altered ciphertext and a key id swapped for another key the process holds', async () => {
    const a = key();
    const b = key();
    const codec = new AesGcmPayloadCodec(a, [b]);
    const [sealed] = await codec.encode([payloadOf(SECRET_INPUT)]);
    const flipped = Buffer.from(sealed!.data!);
    flipped[20] = flipped[20]! ^ 1;
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toBeInstanceOf(PayloadDecryptionError);
    const swapped = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': new TextEncoder().encode(payloadKeyId(b)) } };
    await expect(codec.decode([swapped])).rejects.toThrow(/does not decrypt with key/);
  });
});

describe('payload encryption configuration', () => {
  const valid = key().toString('base64');
  it('takes exactly 32 bytes of base64', () => {
    expect(decodePayloadKey(valid)).toHaveLength(32);
    for (const bad of ['', 'short', randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), `${valid}!`]) expect(decodePayloadKey(bad)).toBeNull();
  });

  it('is off without a key, and every bad value stops the start naming its variable', () => {
    expect(payloadCodecFromConfig(parseEnv({}))).toBeNull();
    expect(payloadCodecFromConfig(parseEnv({ TEMPORAL_PAYLOAD_ENCRYPTION_KEY: valid }))?.activeKeyId).toBe(payloadKeyId(decodePayloadKey(valid)!));
    expect(() => parseEnv({ TEMPORAL_PAYLOAD_ENCRYPTION_KEY: 'not-a-key' })).toThrow(/TEMPORAL_PAYLOAD_ENCRYPTION_KEY: must be 32 random bytes in base64/);
    expect(() => parseEnv({ TEMPORAL_PAYLOAD_ENCRYPTION_KEY: valid, TEMPORAL_PAYLOAD_DECRYPTION_KEYS: `${valid},nope` }))
      .toThrow(/TEMPORAL_PAYLOAD_DECRYPTION_KEYS: must be comma-separated keys/);
    expect(() => parseEnv({ TEMPORAL_PAYLOAD_DECRYPTION_KEYS: valid })).toThrow(/needs TEMPORAL_PAYLOAD_ENCRYPTION_KEY/);
    expect(() => parseEnv({ TEMPORAL_TLS_CERT: '/x.pem' })).toThrow(ConfigError);
  });
});

describe('the Temporal connection (mTLS)', () => {
  const files: Record<string, string> = { '/tls/ca.pem': 'CA', '/tls/client.pem': 'CERT', '/tls/client.key': 'KEY' };
  const read = (path: string) => {
    if (!(path in files)) throw new Error('ENOENT: no such file');
    return Buffer.from(files[path]!);
  };

  it('is plain without TLS settings, and mutual TLS with a CA, a client certificate and its key', () => {
    expect(temporalConnectionOptions(parseEnv({ TEMPORAL_ADDRESS: 'temporal:7233' }), read)).toEqual({ address: 'temporal:7233' });
    const mtls = temporalConnectionOptions(parseEnv({
      TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_TLS_CA: '/tls/ca.pem', TEMPORAL_TLS_CERT: '/tls/client.pem', TEMPORAL_TLS_KEY: '/tls/client.key',
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    }), read);
    expect(mtls).toEqual({
      address: 'temporal:7233',
      tls: { serverRootCACertificate: Buffer.from('CA'), clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') }, serverNameOverride: 'temporal' },
    });
  });

  it('names the variable whose file cannot be read', () => {
    expect(() => temporalConnectionOptions(parseEnv({ TEMPORAL_TLS_CA: '/tls/missing.pem' }), read)).toThrow('TEMPORAL_TLS_CA: cannot read /tls/missing.pem');
  });
});
