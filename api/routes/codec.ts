import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import type { UserStore } from '../../db/users';
import { PayloadDecryptionError, type AesGcmPayloadCodec } from '../../infra/payload-codec';
import { authenticate, requirePermission, type AuthEnv } from '../auth';
import { problem } from '../problem';
import { validate } from '../validation';

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
/** A payload as the Temporal remote codec protocol carries it (proto JSON: bytes in base64). */
const WirePayload = z.object({ metadata: z.record(z.string(), Base64).default({}), data: Base64.default('') });
export const CodecBody = z.object({ payloads: z.array(WirePayload).max(1000) });
type WirePayload = z.infer<typeof WirePayload>;

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data, 'base64')),
});
const toWire = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export interface CodecRouteDeps {
  codec: AesGcmPayloadCodec | null;
  users: UserStore;
  /** The one namespace whose payloads this service encrypts. */
  namespace: string;
  /** The Temporal UI's origin (scheme, host, port): the only browser origin allowed to call the codec. */
  uiOrigin: string;
}

/**
 * The Temporal remote codec server protocol (`POST /codec/decode`, `POST /codec/encode`, JSON `{payloads: [...]}`), so
 * the Temporal UI and CLI can show encrypted payloads to an operator. Decoding needs a token of our API with `view`;
 * encoding (which the read-only UI never needs) needs `manage_settings`.
 */
export function codecRoutes(deps: CodecRouteDeps) {
  async function serve(c: Context<AuthEnv>, direction: 'decode' | 'encode', payloads: WirePayload[]): Promise<Response> {
    if (!deps.codec) {
      return problem(c, 404, 'codec_disabled', 'Payload encryption is off (TEMPORAL_PAYLOAD_ENCRYPTION_KEY is not set): payloads are stored readable.');
    }
    const namespace = c.req.header('x-namespace');
    if (namespace !== undefined && namespace !== deps.namespace) {
      return problem(c, 403, 'wrong_namespace', `This codec serves the Temporal namespace '${deps.namespace}' only.`);
    }
    try {
      const out = direction === 'decode' ? await deps.codec.decode(payloads.map(fromWire)) : await deps.codec.encode(payloads.map(fromWire));
      return c.json({ payloads: out.map(toWire) });
    } catch (err) {
      if (err instanceof PayloadDecryptionError) return problem(c, 422, 'payload_not_decodable', `A payload cannot be decoded: ${err.message}.`);
      throw err;
    }
  }

  return new Hono<AuthEnv>()
    // Preflights answer before authentication; the browser only lets the UI's own origin read the answers.
    .use(cors({
      origin: deps.uiOrigin, allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'X-Namespace', 'Authorization'],
      credentials: true, maxAge: 600,
    }))
    .use(authenticate(deps.users))
    .post('/decode', requirePermission('view'), validate('json', CodecBody), (c) => serve(c, 'decode', c.req.valid('json').payloads))
    .post('/encode', requirePermission('manage_settings'), validate('json', CodecBody), (c) => serve(c, 'encode', c.req.valid('json').payloads));
}
