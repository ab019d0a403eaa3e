import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';

/** A throw-away PKI made with the openssl CLI: a CA, a server certificate for `temporal`, and client certificates. */
export interface TestPki {
  dir: string;
  path(name: string): string;
  read(name: string): Buffer;
  /** Issues `<name>.pem` and `<name>.key` signed by the CA of `ca` (default: this PKI's CA). */
  issue(name: string, opts: { server?: boolean; ca?: string }): void;
  remove(): void;
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'proxbox-pki-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const makeCa = (name: string) => openssl('req', '-x509', '-newkey', 'rsa:2048', '-sha256', '-days', '2', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', `${name}.key`, '-out', `${name}.pem`);
  makeCa('ca');
  makeCa('other-ca');
  const pki: TestPki = {
    dir, path, read: (name) => readFileSync(path(name)),
    issue(name, { server = false, ca = 'ca' }) {
      writeFileSync(path(`${name}.ext`), server
        ? 'subjectAltName=DNS:temporal,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
        : 'extendedKeyUsage=clientAuth\n');
      openssl('req', '-newkey', 'rsa:2048', '-sha256', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-sha256',
        '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  return pki;
}

/**
 * A Temporal frontend that requires client certificates, as docker-compose.temporal.yml configures it: TLS (HTTP/2 by
 * ALPN) terminated here with `requestCert` and `rejectUnauthorized`, then the gRPC stream piped to the dev server.
 */
export async function startMtlsFrontend(pki: TestPki, upstream: string): Promise<{ address: string; handshakesRefused(): number; close(): Promise<void> }> {
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
