import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { ConfigError, type ServiceEnv } from './env';

type TlsEnv = Pick<ServiceEnv, 'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME'>;

/** How every Temporal client and worker of the service reaches the frontend: the address, and mTLS when configured. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
}

/**
 * TLS is on as soon as a CA or a client certificate is configured: the CA (TEMPORAL_TLS_CA) verifies the frontend, the
 * certificate and key (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY) prove who we are to a frontend that requires client
 * certificates. The files are read once at start; an unreadable one stops the start naming its variable.
 */
export function temporalConnectionOptions(env: TlsEnv, read: (path: string) => Buffer = readFileSync): TemporalConnectionOptions {
  const file = (name: keyof TlsEnv): Uint8Array | undefined => {
    const path = env[name];
    if (!path) return undefined;
    try {
      return read(path);
    } catch (err) {
      throw new ConfigError(`${name}: cannot read ${path} (${err instanceof Error ? err.message : String(err)})`);
    }
  };
  const ca = file('TEMPORAL_TLS_CA');
  const crt = file('TEMPORAL_TLS_CERT');
  const key = file('TEMPORAL_TLS_KEY');
  if (!ca && !crt) return { address: env.TEMPORAL_ADDRESS };
  return {
    address: env.TEMPORAL_ADDRESS,
    tls: {
      ...(ca ? { serverRootCACertificate: ca } : {}),
      ...(crt && key ? { clientCertPair: { crt, key } } : {}),
      ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME } : {}),
    },
  };
}
