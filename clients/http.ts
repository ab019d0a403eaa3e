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
