import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../clients/errors';
import { DEFAULT_MAX_BODY_BYTES } from '../../clients/http';
import { NetboxClient } from '../../clients/netbox';
import { ProxboxClient, ProxboxError } from '../../clients/proxbox';

/**
 * Real HTTP peers that misbehave after the headers: one trickles a valid answer a few bytes at a time, one sends a huge
 * valid answer. Waiting long enough would get a usable answer from both, so only a deadline that covers the body and
 * a cap on its size make these calls fail, and fail with an error that says which.
 */
type Behaviour = 'trickle' | 'huge' | 'huge-declared';

interface Peer { url: string; behaviour: Behaviour; closedEarly: number; close(): Promise<void> }

const TRICKLE_STEPS = 200;
const TRICKLE_EVERY_MS = 50;

/** A body the clients accept: a NetBox status and, for proxbox-api, an OpenAPI document with no paths. */
const ACCEPTED = '{"netbox-version":"4.5.0","plugins":{"netbox_branching":"0.6.0"},"paths":{},"pad":"';

function answer(behaviour: Behaviour, peer: Peer) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let open = true;
    res.on('close', () => {
      if (!res.writableFinished) peer.closedEarly += 1;
      open = false;
    });
    if (behaviour === 'huge-declared') {
      // Claims a gigabyte and sends only the start: the declared size alone is enough to refuse it.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1024 ** 3) });
      res.write(ACCEPTED);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(ACCEPTED);
    if (behaviour === 'trickle') {
      let sent = 0;
      const timer = setInterval(() => {
        if (!open) return clearInterval(timer);
        if (++sent < TRICKLE_STEPS) return void res.write('x');
        clearInterval(timer);
        res.end('"}');
      }, TRICKLE_EVERY_MS);
      return;
    }
    // Huge: 1 MiB chunks, past the default cap, written as fast as the client reads them.
    const chunk = 'x'.repeat(1024 * 1024);
    let left = Math.ceil(DEFAULT_MAX_BODY_BYTES / chunk.length) + 4;
    const pump = () => {
      while (open && left > 0) {
        left -= 1;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (open) res.end('"}');
    };
    pump();
  };
}

async function startPeer(behaviour: Behaviour): Promise<Peer> {
  const peer: Peer = { url: '', behaviour, closedEarly: 0, close: async () => {} };
  const server: Server = createServer(answer(behaviour, peer));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  peer.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return peer;
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * `collecting`: garbage is collected every 20 ms while the call runs. undici drops its own abort listener with its
 * Request once that is collected, so a deadline that leant on it let a trickling body run its whole length about one
 * run in ten.
 */
async function failure(p: Promise<unknown>, { collecting = false } = {}): Promise<UpstreamError> {
  const gc = collecting ? setInterval(collectGarbage, 20) : null;
  const err = await p.then(() => 'the call returned an answer', (e: unknown) => e).finally(() => { if (gc) clearInterval(gc); });
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const peers = new Map<Behaviour, Peer>();
beforeAll(async () => {
  for (const b of ['trickle', 'huge', 'huge-declared'] as const) peers.set(b, await startPeer(b));
});
afterAll(async () => { for (const p of peers.values()) await p.close(); });
afterEach(() => { for (const p of peers.values()) p.closedEarly = 0; });

const peer = (b: Behaviour) => peers.get(b)!;
/** The call gave up on the connection: the peer saw it close before its answer was complete. */
const hungUp = (b: Behaviour) => expect.poll(() => peer(b).closedEarly, { timeout: 5_000 }).toBe(1);

describe('NetBox client: a deadline for the whole call and a cap on the body', () => {
  const netbox = (b: Behaviour) => new NetboxClient({ baseUrl: peer(b).url, token: 'nbt_a.b', timeoutMs: 600 });

  it('fails a trickling answer at the deadline, saying the body did not finish, and hangs up', async () => {
    const err = await failure(netbox('trickle').status(), { collecting: true });
    expect(err).toMatchObject({ system: 'netbox', kind: 'timeout', status: null });
    expect(err.message).toMatch(/^NetBox did not finish its answer to GET \/api\/status\/ within 600 ms \(\d+ bytes of the body received\)$/);
    await hungUp('trickle');
  }, 20_000);

  it('refuses an answer larger than the cap without reading it all, and hangs up', async () => {
    const err = await failure(new NetboxClient({ baseUrl: peer('huge').url, token: 'nbt_a.b', timeoutMs: 15_000 }).status());
    expect(err).toMatchObject({ system: 'netbox', kind: 'too_large' });
    expect(err.message).toBe('NetBox answered GET /api/status/ with more than 32 MiB; the answer was not read');
    await hungUp('huge');
  }, 20_000);

  it('refuses an answer whose declared length is over the cap', async () => {
    const err = await failure(netbox('huge-declared').status());
    expect(err).toMatchObject({ kind: 'too_large' });
    await hungUp('huge-declared');
  }, 20_000);
});

describe('proxbox-api client: a deadline for the whole call and a cap on the body', () => {
  const proxbox = (b: Behaviour, timeoutMs = 600) => new ProxboxClient({ baseUrl: peer(b).url, apiKey: 'k', timeoutMs });

  it('fails a trickling answer at the deadline and hangs up; a write whose answer was cut has an unknown outcome', async () => {
    const read = await failure(proxbox('trickle').capabilities(), { collecting: true });
    expect(read).toBeInstanceOf(ProxboxError);
    expect(read).toMatchObject({ system: 'proxbox-api', kind: 'timeout', unknownOutcome: false });
    expect(read.message).toMatch(/^proxbox-api did not finish its answer to GET \/openapi\.json within 600 ms \(\d+ bytes of the body received\)$/);
    await hungUp('trickle');
    peer('trickle').closedEarly = 0;
    const write = await failure(proxbox('trickle').executeDeletion(7, { vmid: 190, node: 'pve02', kind: 'lxc' }, 'bob'), { collecting: true });
    expect(write).toMatchObject({ kind: 'timeout', unknownOutcome: true });
    await hungUp('trickle');
  }, 20_000);

  it('refuses an answer larger than the cap and hangs up', async () => {
    const err = await failure(proxbox('huge', 15_000).capabilities());
    expect(err).toMatchObject({ system: 'proxbox-api', kind: 'too_large', unknownOutcome: false });
    expect(err.message).toBe('proxbox-api answered GET /openapi.json with more than 32 MiB; the answer was not read');
    await hungUp('huge');
  }, 20_000);

  it('refuses an answer whose declared length is over the cap', async () => {
    expect(await failure(proxbox('huge-declared').capabilities())).toMatchObject({ kind: 'too_large' });
    await hungUp('huge-declared');
  }, 20_000);

  it("stops reading at once when the caller's own signal aborts mid-body, and says it was cancelled", async () => {
    const caller = new AbortController();
    const call = failure(new ProxboxClient({ baseUrl: peer('trickle').url, apiKey: 'k', timeoutMs: 60_000 }).capabilities(caller.signal), { collecting: true });
    setTimeout(() => caller.abort(), 200);
    const err = await call;
    expect(err).toMatchObject({ kind: 'unreachable' });
    expect(err.message).toBe('GET /openapi.json was cancelled');
    await hungUp('trickle');
  }, 20_000);
});
