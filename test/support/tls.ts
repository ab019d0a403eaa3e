import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';

const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };

/**
 * The mTLS material exactly as docker-compose.temporal.yml's `temporal-certs` job makes it (its own shell script, run
 * here with the openssl CLI): a CA, the frontend's certificate for `temporal`, and the client certificate.
 */
export interface ComposeTlsMaterial {
  dir: string;
  path(name: 'ca.pem' | 'frontend.pem' | 'frontend.key' | 'client.pem' | 'client.key'): string;
  read(name: 'ca.pem' | 'frontend.pem' | 'frontend.key' | 'client.pem' | 'client.key'): Buffer;
  remove(): void;
}

const COMPOSE_FILE = fileURLToPath(new URL('../../docker-compose.temporal.yml', import.meta.url));

export function composeTlsMaterial(): ComposeTlsMaterial {
  const compose = yaml.load(readFileSync(COMPOSE_FILE, 'utf8')) as { services: Record<string, { command: string[] }> };
  // Compose turns $$ into $; the job works in its volume at /tls.
  const script = compose.services['temporal-certs']!.command[0]!.replaceAll('$$', '$').replace('cd /tls', 'cd "$TLS_DIR"');
  const dir = mkdtempSync(join(tmpdir(), 'proxbox-tls-'));
  execFileSync('sh', ['-ec', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TLS_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
  const path = (name: string) => join(dir, name);
  return { dir, path, read: (name) => readFileSync(path(name)), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A Temporal frontend that requires client certificates, as docker-compose.temporal.yml configures it: TLS (HTTP/2 by
 * ALPN) terminated here with `requestCert` and `rejectUnauthorized`, then the gRPC stream piped to the dev server.
 */
export async function startMtlsFrontend(pki: ComposeTlsMaterial, upstream: string): Promise<{ address: string; handshakesRefused(): number; close(): Promise<void> }> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  let refused = 0;
  const server = createTlsServer({
    key: pki.read('frontend.key'), cert: pki.read('frontend.pem'), ca: pki.read('ca.pem'),
    requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'],
  }, (tls) => {
    const plain = tcpConnect({ host, port });
    tls.pipe(plain).pipe(tls);
    const end = () => { tls.destroy(); plain.destroy(); };
    tls.on('error', end);
    plain.on('error', end);
  });
  server.on('tlsClientError', () => { refused += 1; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    handshakesRefused: () => refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
