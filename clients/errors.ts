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

  /** Configuration problems (bad credentials, missing permission) do not heal by retrying quickly. */
  get isConfiguration(): boolean {
    return this.kind === 'unauthorized' || this.kind === 'forbidden';
  }
}
