import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MALFORMED_JSON, problem } from './problem';

/** Every request body of the API (the webhook has its own, larger limit: NetBox sends the whole branch). */
export const API_MAX_BODY_BYTES = 64 * 1024;

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** 413 problem+json past `maxBytes`, announced (Content-Length) or streamed; the rest of the body is never read. */
export function limitBody(maxBytes: number, what = 'Request bodies'): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      // The connection cannot carry another request once a body is left unread.
      c.header('Connection', 'close');
      return problem(c, 413, 'payload_too_large', `${what} are limited to ${maxBytes} bytes.`);
    },
  });
}

/** Strict UTF-8 JSON of raw bytes, or undefined when they are not (no replacement characters slip through). */
export function parseJsonBytes(raw: ArrayBuffer | Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) };
  } catch {
    return { ok: false };
  }
}

/**
 * One rule for every request body of the API, checked before any route sees it: a body is JSON (415 when declared
 * otherwise) and well-formed (400 `malformed_json`). Routes then read it from Hono's cache; an empty body is left
 * to the route (the plan takes none).
 */
export function jsonBodies(): MiddlewareHandler {
  return async (c, next) => {
    if (!c.req.raw.body) return next();
    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (new TextDecoder().decode(raw).trim() === '') return next();
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      return problem(c, 415, 'unsupported_media_type', `Request bodies are JSON: send Content-Type: application/json${mediaType ? `, not ${mediaType}` : ''}.`);
    }
    if (!parseJsonBytes(raw).ok) return problem(c, 400, 'malformed_json', MALFORMED_JSON);
    return next();
  };
}
