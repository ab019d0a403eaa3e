import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../runtime/search-attributes';
import { parseEnv } from '../../config/env';

const { load: parseYaml } = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.temporal.yml');
const INSTALL_HINT =
  'Neither `docker compose` nor `docker-compose` is available to validate docker-compose.temporal.yml. ' +
  'Install the Debian package: sudo apt-get install -y docker-compose';

const DUMMY_SECRETS: Record<string, string> = {
  POSTGRES_PASSWORD: 'dummy-postgres-password',
  TEMPORAL_DB_PASSWORD: 'dummy-temporal-password',
  PROXBOX_DB_PASSWORD: 'dummy-proxbox-password',
  NETBOX_URL: 'https://netbox.example.test',
  NETBOX_TOKEN: 'dummy-netbox-token',
  NETBOX_WEBHOOK_SECRET: 'dummy-webhook-secret',
  PROXBOX_API_URL: 'https://proxbox-api.example.test',
  PROXBOX_API_KEY: 'dummy-proxbox-api-key',
  APPROVAL_SIGNING_SECRET: 'dummy-approval-signing-secret',
  TEMPORAL_PAYLOAD_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
  SECRETS_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
};

const SERVICES = ['postgresql', 'db-init', 'temporal-certs', 'temporal-schema', 'temporal', 'temporal-setup', 'temporal-ui', 'migrate', 'worker', 'api'];

interface ComposeService {
  image?: string;
  volumes?: unknown[];
  build?: unknown;
  command?: unknown;
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
  stop_grace_period?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

const workDir = mkdtempSync(join(tmpdir(), 'proxbox-compose-'));
const emptyEnvFile = join(workDir, 'empty.env');
writeFileSync(emptyEnvFile, '');
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function composeCommand(): string[] | null {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return null;
}

function renderConfig(env: Record<string, string>): SpawnSyncReturns<string> {
  const command = composeCommand();
  if (!command) throw new Error(INSTALL_HINT);
  const [bin, ...prefix] = command as [string, ...string[]];
  return spawnSync(
    bin,
    [...prefix, '--env-file', emptyEnvFile, '--project-directory', REPO_ROOT, '-f', COMPOSE_FILE, 'config'],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: workDir, ...env } },
  );
}

const source = readFileSync(COMPOSE_FILE, 'utf8');
const parsed = parseYaml(source) as ComposeFile;

describe('docker-compose.temporal.yml (static)', () => {
  it('parses as YAML and declares every service', () => {
    expect(Object.keys(parsed.services).sort()).toEqual([...SERVICES].sort());
  });

  it('registers every search attribute of infra/temporal-dev-server.ts with its type', () => {
    const registered = String(parsed.services['temporal-setup']?.environment?.SEARCH_ATTRIBUTES ?? '').split(/\s+/);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(registered).toContain(`${name}=${type}`);
      expect(source).toContain(name);
    }
  });

  it('pins every pulled image to a version tag', () => {
    for (const [name, service] of Object.entries(parsed.services)) {
      if (service.build) continue;
      expect(service.image, name).toMatch(/^[\w./-]+:\d[\w.-]*$/);
    }
  });

  it('starts the worker and the API from the repo image after migrations and Temporal setup', () => {
    for (const name of ['worker', 'api'] as const) {
      const service = parsed.services[name]!;
      expect(service.build).toBeTruthy();
      expect(service.command).toEqual(['node', 'dist/scripts/start.js', name]);
      expect(service.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(parsed.services.api?.healthcheck?.test).toBeTruthy();
  });

  it('runs only compiled entry points that the production build emits', () => {
    const build = JSON.parse(readFileSync(resolve(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const name of ['migrate', 'worker', 'api']) {
      const [bin, entry] = parsed.services[name]!.command as string[];
      expect(bin, name).toBe('node');
      expect(entry, name).toMatch(/^dist\/.+\.js$/);
      expect(build.include, name).toContain(entry!.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
    }
  });

  it('gives the worker and the API longer than their shutdown grace before Docker kills them (default 10 s)', () => {
    const seconds = (d: string | undefined) => {
      const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(d ?? '');
      return m && d ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : 10;
    };
    const defaults = parseEnv({});
    const env = (name: string) => String(parsed.services[name]?.environment?.WORKER_SHUTDOWN_GRACE_S ?? '');
    expect(env('worker')).toBe(`\${WORKER_SHUTDOWN_GRACE_S:-${defaults.WORKER_SHUTDOWN_GRACE_S}}`);
    expect(seconds(parsed.services.worker?.stop_grace_period)).toBeGreaterThan(defaults.WORKER_SHUTDOWN_GRACE_S);
    expect(seconds(parsed.services.api?.stop_grace_period)).toBeGreaterThan(defaults.API_SHUTDOWN_GRACE_S);
  });
});

describe('docker-compose.temporal.yml: who may talk to the Temporal frontend', () => {
  const mountsTls = (name: string) => (parsed.services[name]?.volumes ?? []).includes('temporal-tls:/tls:ro');

  it('requires client certificates (mutual TLS) on the frontend, from the CA of the temporal-tls volume', () => {
    const env = parsed.services.temporal!.environment!;
    expect(env).toMatchObject({
      TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: 'true', TEMPORAL_TLS_FRONTEND_CERT: '/tls/frontend.pem', TEMPORAL_TLS_FRONTEND_KEY: '/tls/frontend.key',
      TEMPORAL_TLS_CLIENT1_CA_CERT: '/tls/ca.pem',
    });
    expect(parsed.services.temporal?.depends_on).toMatchObject({ 'temporal-certs': { condition: 'service_completed_successfully' } });
    expect(String(parsed.services['temporal-certs']?.command)).toContain('subjectAltName=DNS:temporal');
  });

  it('gives the client certificate to our worker and API, the UI and the setup job only, and turns payload encryption on', () => {
    const holders = Object.keys(parsed.services).filter(mountsTls).sort();
    expect(holders).toEqual(['api', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
    for (const name of ['worker', 'api']) {
      expect(parsed.services[name]!.environment, name).toMatchObject({ TEMPORAL_TLS_CERT: '/tls/client.pem', TEMPORAL_TLS_KEY: '/tls/client.key' });
      expect(String(parsed.services[name]!.environment!.TEMPORAL_PAYLOAD_ENCRYPTION_KEY), name).toMatch(/^\$\{TEMPORAL_PAYLOAD_ENCRYPTION_KEY:\?/);
    }
    expect(parsed.services['temporal-ui']!.environment).toMatchObject({ TEMPORAL_TLS_CERT: '/tls/client.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal' });
    expect(parsed.services['temporal-ui']!.environment).toHaveProperty(['TEMPORAL_CODEC_ENDPOINT']);
  });
});

describe('docker-compose.temporal.yml (docker compose config)', () => {
  it('renders with the required secrets set', () => {
    const result = renderConfig(DUMMY_SECRETS);
    expect(result.error, INSTALL_HINT).toBeUndefined();
    expect(result.status, result.stderr).toBe(0);

    const rendered = parseYaml(result.stdout) as ComposeFile;
    for (const service of SERVICES) expect(rendered.services).toHaveProperty([service]);
    expect(rendered.services['temporal-ui']?.environment?.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
    expect(rendered.services['temporal-ui']?.environment?.TEMPORAL_WORKFLOW_SIGNAL_DISABLED).toBe('true');
    expect(rendered.services['temporal-ui']?.environment?.TEMPORAL_WORKFLOW_UPDATE_DISABLED).toBe('true');

    const apiEnv = rendered.services.api?.environment ?? {};
    for (const key of [
      'DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_UI_URL', 'NETBOX_URL',
      'NETBOX_TOKEN', 'NETBOX_WEBHOOK_SECRET', 'PROXBOX_API_URL', 'PROXBOX_API_KEY', 'BOOTSTRAP_ADMIN_TOKEN', 'PORT',
      'SECRETS_ENCRYPTION_KEY', 'PROXBOX_API_ALLOW_HTTP', 'PROXBOX_API_ALLOWED_HOSTS',
    ]) {
      expect(apiEnv, key).toHaveProperty([key]);
    }
    expect(apiEnv.NETBOX_TOKEN).toBe(DUMMY_SECRETS.NETBOX_TOKEN);
    for (const env of [apiEnv, rendered.services.worker?.environment ?? {}]) {
      expect(env).toMatchObject({
        TEMPORAL_TLS_CA: '/tls/ca.pem', TEMPORAL_TLS_CERT: '/tls/client.pem', TEMPORAL_TLS_KEY: '/tls/client.key', TEMPORAL_TLS_SERVER_NAME: 'temporal',
        TEMPORAL_PAYLOAD_ENCRYPTION_KEY: DUMMY_SECRETS.TEMPORAL_PAYLOAD_ENCRYPTION_KEY,
      });
    }
    expect(String(apiEnv.DATABASE_URL)).toContain(`:${DUMMY_SECRETS.PROXBOX_DB_PASSWORD}@postgresql:5432/`);
    expect(rendered.services.worker?.environment?.TEMPORAL_NAMESPACE).toBe(apiEnv.TEMPORAL_NAMESPACE);
  });

  it('refuses to render without the payload encryption key, naming it', () => {
    const { TEMPORAL_PAYLOAD_ENCRYPTION_KEY: _omitted, ...withoutKey } = DUMMY_SECRETS;
    const result = renderConfig(withoutKey);
    expect(result.error, INSTALL_HINT).toBeUndefined();
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('TEMPORAL_PAYLOAD_ENCRYPTION_KEY');
  });

  it('refuses to render when a secret is missing, naming it', () => {
    const { NETBOX_TOKEN: _omitted, ...withoutToken } = DUMMY_SECRETS;
    const result = renderConfig(withoutToken);
    expect(result.error, INSTALL_HINT).toBeUndefined();
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('NETBOX_TOKEN');
  });

  it('refuses to render without SECRETS_ENCRYPTION_KEY, and keeps plain http off by default', () => {
    const { SECRETS_ENCRYPTION_KEY: _omitted, ...withoutKey } = DUMMY_SECRETS;
    const result = renderConfig(withoutKey);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('SECRETS_ENCRYPTION_KEY');
    const rendered = parseYaml(renderConfig(DUMMY_SECRETS).stdout) as ComposeFile;
    expect(rendered.services.api?.environment?.PROXBOX_API_ALLOW_HTTP).toBe('false');
  });
});
