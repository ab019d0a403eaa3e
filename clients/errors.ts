/** Why a call to an upstream system failed, in words an operator can act on. */
export type UpstreamErrorKind =
  | 'unreachable' | 'timeout' | 'unauthorized' | 'forbidden' | 'not_found' | 'throttled'
  | 'rejected' | 'server_error' | 'unexpected_body' | 'too_large';

export class UpstreamError extends Error {
  constructor(
    readonly system: 'netbox' | 'proxbox-api',
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** A failure that says nothing about the request itself (the peer was down, slow or busy): a later try may succeed. */
  get isTransient(): boolean {
    return this.kind === 'throttled' || this.kind === 'unreachable' || this.kind === 'timeout' || this.kind === 'server_error';
  }

  /** Configuration problems (bad credentials, missing permission) do not heal by retrying quickly. */
  get isConfiguration(): boolean {
    return this.kind === 'unauthorized' || this.kind === 'forbidden';
  }
}

/**
 * Told of every failed call (metrics count them by system and kind); a call its own caller cancelled is not a failure
 * of the peer and is not reported.
 */
export type UpstreamErrorObserver = (err: UpstreamError) => void;

/** Runs one call and reports its UpstreamError, if any, to `observer` before rethrowing it. */
export async function observed<T>(observer: UpstreamErrorObserver | undefined, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
  if (!observer) return call();
  try {
    return await call();
  } catch (err) {
    if (err instanceof UpstreamError && !signal?.aborted) observer(err);
    throw err;
  }
}
