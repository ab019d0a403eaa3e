import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  INDEXED_VALUE_TYPE,
  findFreePort,
  startTemporalDevServer,
  type TemporalDevServer,
  type TemporalDevServerOptions,
} from '../../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../../runtime/search-attributes';

const started: TemporalDevServer[] = [];
const tempDirs: string[] = [];

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

async function start(opts: Partial<TemporalDevServerOptions>): Promise<TemporalDevServer> {
  const server = await startTemporalDevServer({ searchAttributes: SEARCH_ATTRIBUTES, ...opts });
  started.push(server);
  return server;
}

async function customSearchAttributes(address: string, namespace: string): Promise<Record<string, number>> {
  const connection = await Connection.connect({ address });
  try {
    const response = await connection.operatorService.listSearchAttributes({ namespace });
    return Object.fromEntries(Object.entries(response.customAttributes ?? {}).map(([k, v]) => [k, Number(v)]));
  } finally {
    await connection.close();
  }
}

function expectedSearchAttributes(attrs: Record<string, keyof typeof INDEXED_VALUE_TYPE>): Record<string, number> {
  return Object.fromEntries(Object.entries(attrs).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]]));
}

function portAcceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function hostPort(address: string): { host: string; port: number } {
  const [host, port] = address.split(':');
  return { host: host!, port: Number(port) };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'proxbox-temporal-'));
  tempDirs.push(dir);
  return dir;
}

describe('findFreePort', () => {
  it('returns a port nobody listens on', async () => {
    const port = await findFreePort();
    expect(port).toBeGreaterThan(0);
    expect(await portAcceptsConnections('127.0.0.1', port)).toBe(false);
  });
});

describe('startTemporalDevServer', () => {
  it('starts headless on a free port with our search attributes, and stop() closes the port', async () => {
    const server = await start({ port: 0, headless: true, namespace: 'proxbox-unit' });
    const { host, port } = hostPort(server.address);
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    expect(server.uiUrl).toBeNull();
    expect(server.namespace).toBe('proxbox-unit');

    expect(await customSearchAttributes(server.address, 'proxbox-unit')).toMatchObject(
      expectedSearchAttributes(SEARCH_ATTRIBUTES),
    );

    await server.stop();
    expect(await portAcceptsConnections(host, port)).toBe(false);
    await server.stop();
  });

  it('restarts on a persisted database and registers search attributes added since', async () => {
    const dbFile = join(tempDir(), 'nested', 'temporal.db');
    const first = await start({ port: 0, headless: true, dbFile, namespace: 'proxbox-persist', searchAttributes: { ProxboxBranch: 'Keyword' } });
    expect(existsSync(dbFile)).toBe(true);
    expect(await customSearchAttributes(first.address, 'proxbox-persist')).toEqual({ ProxboxBranch: INDEXED_VALUE_TYPE.Keyword });
    await first.stop();

    const second = await start({ port: 0, headless: true, dbFile, namespace: 'proxbox-persist' });
    expect(await customSearchAttributes(second.address, 'proxbox-persist')).toEqual(expectedSearchAttributes(SEARCH_ATTRIBUTES));
    await second.stop();
  });

  it('fails with the server output when the port is taken', async () => {
    const accepted = new Set<Socket>();
    const blocker = createServer((socket) => {
      accepted.add(socket);
      socket.once('close', () => accepted.delete(socket));
    });
    const port = await new Promise<number>((resolve) => {
      blocker.listen(0, '127.0.0.1', () => {
        const address = blocker.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    try {
      await expect(start({ port, headless: true, startTimeoutMs: 20_000 })).rejects.toThrow(/exited early[\s\S]*temporal stderr/);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
