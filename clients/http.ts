import { SpanKind, SpanStatusCode, context, propagation } from '@opentelemetry/api';
import { withoutSecrets } from '../domain/secret-text';
import { tracer } from '../infra/tracing';

/**
 * What every NetBox and proxbox-api call shares: one deadline for the whole call (connecting, the headers and the
 * body) and a cap on the body's size. ky's own `timeout` stops at the headers, so a peer that answers at once and
 * then trickles its body, or sends a huge one, would otherwise hold the caller (and any lock it holds) for ever.
 */

/** Larger than any answer this service expects (10,000 guests in a cluster listing are about 2 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface CallDeadline {
  /** Aborts the request and the reading of its body at the deadline, or when the caller's own signal aborts. */
  signal: AbortSignal;
  /** The deadline (not the caller) ended the call. */
  expired(): boolean;
  /** The caller's signal ended the call. */
  cancelled(): boolean;
}

export function callDeadline(ms: number, caller?: AbortSignal): CallDeadline {
  const timeout = AbortSignal.timeout(ms);
  return {
    signal: caller ? AbortSignal.any([caller, timeout]) : timeout,
    expired: () => timeout.aborted && !caller?.aborted,
    cancelled: () => Boolean(caller?.aborted),
  };
}

/** The body was larger than the cap; the call reads no more of it. */
export class BodyTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`the answer is larger than ${formatBytes(limitBytes)}`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads at most `maxBytes` of a body as text; a larger one (declared or actual) is refused without reading it all.
 * Stops when `signal` aborts, by its own listener: fetch's abort of the body hangs on the Request's internal
 * controller, which undici lets the garbage collector take once the Response is out, and with it the listener,
 * so under memory pressure a trickling body would otherwise outlive its deadline.
 */
export async function readCapped(res: Response, maxBytes: number, signal: AbortSignal, onProgress?: (bytes: number) => void): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(maxBytes);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const stop = () => { void reader.cancel(signal.reason).catch(() => {}); };
  signal.addEventListener('abort', stop, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      signal.throwIfAborted();
      if (done) break;
      total += value.byteLength;
      onProgress?.(total);
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new BodyTooLargeError(maxBytes);
      }
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MiB` : n >= 1024 ? `${Math.round(n / 1024)} KiB` : `${n} bytes`;
}

/**
 * The route of a call without what varies or may be secret: no query string (it can carry filters and ids of every
 * kind), numeric path segments as `{id}` and Proxmox task ids as `{upid}`: `GET /api/virtualization/virtual-machines/{id}/`.
 */
export function routeTemplate(path: string): string {
  const bare = path.split('?')[0]!.replace(/^\/*/, '/');
  return bare.split('/').map((seg) => (/^\d+$/.test(seg) ? '{id}' : /^UPID(:|%3A)/i.test(seg) ? '{upid}' : seg)).join('/');
}

export interface TracedCall {
  /** The W3C trace-context headers (`traceparent`) that make the callee's spans children of this call's; empty when tracing is off. */
  headers: Record<string, string>;
  /** The answer's status, as soon as the headers arrived. */
  answered(status: number): void;
}

/**
 * One client span per NetBox or proxbox-api call: `<METHOD> <route template>`, the peer, the server's address and the
 * answer's status; a failed call records the error's type and its message (our own, which names no secret).
 */
export function traceOutgoingCall<T>(peer: { system: 'netbox' | 'proxbox-api'; baseUrl: string }, method: string, path: string, run: (call: TracedCall) => Promise<T>): Promise<T> {
  const route = routeTemplate(path);
  const { hostname, port, protocol } = safeUrl(peer.baseUrl);
  const attributes = {
    'http.request.method': method.toUpperCase(), 'url.template': route, 'peer.service': peer.system,
    'server.address': hostname, 'server.port': Number(port) || (protocol === 'https:' ? 443 : 80),
  };
  return tracer().startActiveSpan(`${method.toUpperCase()} ${route}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    const headers: Record<string, string> = {};
    propagation.inject(context.active(), headers);
    try {
      return await run({
        headers,
        answered: (status) => {
          span.setAttribute('http.response.status_code', status);
          if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        },
      });
    } catch (err) {
      span.setAttribute('error.type', err instanceof Error ? err.name : 'Error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: withoutSecrets(err instanceof Error ? err.message : String(err)) });
      throw err;
    } finally {
      span.end();
    }
  });
}

function safeUrl(url: string): URL {
  try { return new URL(url); } catch { return new URL('http://invalid'); }
}
