import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import type { UserStore } from '../../db/users';
import type { AuthFailureGuard } from '../rate-limits';
import { jsonBodies } from '../body';
import { PayloadDecryptionError, type AesGcmPayloadCodec } from '../../infra/payload-codec';
import { authenticate, type AuthEnv } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { problem } from '../problem';

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

/**
 * The Temporal UI cannot add one of our tokens to its codec requests (its "pass access token" sends the token of the
 * UI's own OIDC login). A browser signs in once at `GET /codec` instead: the token is kept in this HttpOnly cookie,
 * scoped to /codec, and the UI sends it when its codec setting "include cross-origin credentials" is on.
 */
export const CODEC_SESSION_COOKIE = 'proxbox_codec';
const SESSION_SECONDS = 8 * 3600;

/** For /codec/decode: a request without an Authorization header is authenticated by the session cookie's token. */
const sessionCookieAsBearer: MiddlewareHandler = async (c, next) => {
  const token = getCookie(c, CODEC_SESSION_COOKIE);
  if (!c.req.header('authorization') && token) {
    const headers = new Headers(c.req.raw.headers);
    headers.set('authorization', `Bearer ${token}`);
    c.req.raw = new Request(c.req.raw, { headers });
  }
  await next();
};

const isHttps = (c: Context) => new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';

const SIGN_IN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>proxbox-intent: Temporal UI codec</title></head>
<body style="font-family: sans-serif; max-width: 42rem; margin: 2rem auto">
<h1>Show encrypted Temporal payloads in the Temporal UI</h1>
<p>Workflow payloads are encrypted in Temporal. Paste an API token that holds <code>view</code>: this browser keeps it for
eight hours in a cookie that only <code>/codec</code> receives. Then, in the Temporal UI's codec settings, set the endpoint
to <code id="endpoint"></code> and turn on <em>Include cross-origin credentials</em>.</p>
<form id="f"><input id="t" type="password" size="50" autocomplete="off" placeholder="API token">
<button>Sign in</button> <button type="button" id="out">Sign out</button></form><p id="r"></p>
<script>
const codec = location.origin + location.pathname.replace(/[/]+$/, '');
document.getElementById('endpoint').textContent = codec;
const say = (text) => { document.getElementById('r').textContent = text; };
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  const res = await fetch(codec + '/session', { method: 'POST', headers: { authorization: 'Bearer ' + document.getElementById('t').value } });
  document.getElementById('t').value = '';
  say(res.ok ? 'Signed in: the Temporal UI can now decode payloads in this browser.' : (await res.json()).detail);
};
document.getElementById('out').onclick = async () => { await fetch(codec + '/session', { method: 'DELETE' }); say('Signed out.'); };
</script></body></html>`;

export interface CodecRouteDeps {
  codec: AesGcmPayloadCodec | null;
  users: UserStore;
  /** Failed authentications count against the caller's address here as on the API. */
  authGuard: AuthFailureGuard;
  /** The one namespace whose payloads this service encrypts. */
  namespace: string;
  /** The Temporal UI's origin (scheme, host, port): the only browser origin allowed to call the codec. */
  uiOrigin: string;
}

/**
 * The Temporal remote codec server protocol (`POST /codec/decode`, `POST /codec/encode`, JSON `{payloads: [...]}`), so
 * the Temporal UI and CLI can show encrypted payloads to an operator. Decoding needs a token of our API with `view`
 * (as a Bearer header, or the browser session of `GET /codec`); encoding (which the read-only UI never needs) needs
 * `manage_settings` and a Bearer header.
 */
const CODEC_PROBLEMS = problems(...AUTHENTICATED, ...WITH_BODY, 403, 404);

export const codecRouteDefs = {
  signIn: createRoute({
    method: 'get', path: '/', summary: 'Sign a browser in for the Temporal UI\'s codec (HTML)',
    responses: { 200: { description: 'The sign-in page' } },
  }),
  signOut: createRoute({
    method: 'delete', path: '/session', summary: 'Forget the codec browser session', middleware: [jsonBodies()],
    responses: { 204: { description: 'Signed out' }, ...problems(400, 413, 415) },
  }),
  session: createRoute({
    method: 'post', path: '/session', summary: 'Keep the Bearer token in an HttpOnly cookie for /codec/decode (8 hours)', ...guarded(['view']),
    responses: { 204: { description: 'Signed in' }, ...problems(...AUTHENTICATED, 400, 403, 413, 415) },
  }),
  decode: createRoute({
    method: 'post', path: '/decode', summary: 'Temporal remote codec: decrypt payloads (Bearer token or the /codec browser session; X-Namespace)',
    ...guarded(['view']), request: { body: jsonBody(CodecBody) }, responses: { 200: { description: 'The decoded payloads' }, ...CODEC_PROBLEMS },
  }),
  encode: createRoute({
    method: 'post', path: '/encode', summary: 'Temporal remote codec: encrypt payloads', ...guarded(['manage_settings']),
    request: { body: jsonBody(CodecBody) }, responses: { 200: { description: 'The encoded payloads' }, ...CODEC_PROBLEMS },
  }),
};

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

  const defs = codecRouteDefs;
  const app = router();
  // Preflights answer before authentication; the browser only lets the UI's own origin read the answers.
  app.use(cors({
    origin: deps.uiOrigin, allowMethods: ['POST', 'OPTIONS'], allowHeaders: ['Content-Type', 'X-Namespace', 'Authorization'],
    credentials: true, maxAge: 600,
  }));
  app.openapi(defs.signIn, (c) => c.html(SIGN_IN_PAGE));
  app.openapi(defs.signOut, (c) => {
    deleteCookie(c, CODEC_SESSION_COOKIE, { path: '/codec', secure: isHttps(c) });
    return c.body(null, 204);
  });
  app.post('/decode', sessionCookieAsBearer);
  // After the cookie became a Bearer header (that rewrite needs the request's body unread).
  app.use(jsonBodies());
  app.use(authenticate(deps.users, deps.authGuard));
  return app
    .openapi(defs.session, (c) => {
      const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')![1]!;
      // Cross-site (the UI on another site) needs SameSite=None, which browsers accept over https only.
      setCookie(c, CODEC_SESSION_COOKIE, token, {
        path: '/codec', httpOnly: true, maxAge: SESSION_SECONDS, ...(isHttps(c) ? { secure: true, sameSite: 'None' } : { sameSite: 'Lax' }),
      });
      return c.body(null, 204);
    })
    .openapi(defs.decode, (c) => serve(c, 'decode', c.req.valid('json').payloads))
    .openapi(defs.encode, (c) => serve(c, 'encode', c.req.valid('json').payloads));
}
