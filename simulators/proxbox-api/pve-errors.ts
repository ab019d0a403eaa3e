import { pyRepr } from '../../contracts/proxbox-api';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  595: 'Errors during connection establishment, proxy handler',
};

/**
 * An error answered by (fake) Proxmox. `message` reads like proxmoxer's ResourceException,
 * `<status> <reason>: <text>[ - {errors}]`, because that is the text proxbox-api passes on.
 */
export class PveError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
    readonly errors?: Record<string, string>,
    readonly notFound = false,
  ) {
    const suffix = errors ? ` - {${Object.entries(errors).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}` : '';
    super(`${status} ${STATUS_TEXT[status] ?? 'Error'}: ${text}${suffix}`);
    this.name = 'PveError';
  }
}

/** The endpoint cannot be reached at all; no request arrives at Proxmox. */
export class PveConnectionError extends Error {
  constructor(endpointName: string, host: string, port: number) {
    super(`Could not connect to Proxmox endpoint '${endpointName}' at ${host}:${port}: Connection refused`);
    this.name = 'PveConnectionError';
  }
}

export const paramError = (errors: Record<string, string>) => new PveError(400, 'Parameter verification failed.', errors);

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
