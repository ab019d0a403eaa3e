import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  POLLER_RECENT_WINDOW_MS, ServiceStatus, isPollerRecent, readiness, redactSecrets, summarizePollers, summarizeStatus, workerPolling,
  type EndpointStatus, type ServiceStatusFacts,
} from '../../domain/service-status';
import { SERVICE_VERSION } from '../../domain/service-version';

const NOW = Date.parse('2026-12-07T02:00:00Z');

describe('isPollerRecent', () => {
  it('counts a poller seen within the window, up to its edge, and one whose clock is a little ahead', () => {
    expect(isPollerRecent(NOW - 1_000, NOW)).toBe(true);
    expect(isPollerRecent(NOW - POLLER_RECENT_WINDOW_MS, NOW)).toBe(true);
    expect(isPollerRecent(NOW + 2_000, NOW)).toBe(true);
  });
  it('does not count one seen before the window, or with no time at all', () => {
    expect(isPollerRecent(NOW - POLLER_RECENT_WINDOW_MS - 1, NOW)).toBe(false);
    expect(isPollerRecent(null, NOW)).toBe(false);
    expect(isPollerRecent(Number.NaN, NOW)).toBe(false);
    expect(isPollerRecent(NOW - 10_000, NOW, 5_000)).toBe(false);
  });
});

describe('summarizePollers and workerPolling', () => {
  const recent = { identity: '1@a', lastAccessMs: NOW - 30_000 };
  const stale = { identity: '2@b', lastAccessMs: NOW - 10 * 60_000 };

  it('keeps recent pollers only, and the latest poll Temporal remembers of any', () => {
    expect(summarizePollers([stale, recent], NOW)).toEqual({ recentPollers: 1, lastAccessAt: new Date(NOW - 30_000).toISOString(), identities: ['1@a'] });
    expect(summarizePollers([stale], NOW)).toEqual({ recentPollers: 0, lastAccessAt: new Date(NOW - 600_000).toISOString(), identities: [] });
    expect(summarizePollers([], NOW)).toEqual({ recentPollers: 0, lastAccessAt: null, identities: [] });
  });

  it('needs a recent poller of workflow tasks and of activity tasks', () => {
    const yes = summarizePollers([recent], NOW);
    const no = summarizePollers([stale], NOW);
    expect(workerPolling({ workflow: yes, activity: yes })).toBe(true);
    expect(workerPolling({ workflow: yes, activity: no })).toBe(false);
    expect(workerPolling({ workflow: no, activity: yes })).toBe(false);
    expect(workerPolling(null)).toBe(false);
  });
});

const endpoint = (over: Partial<EndpointStatus> = {}): EndpointStatus => ({
  id: 1, name: 'lab', backendEndpointId: 1, clusters: ['lab-cluster'], isDefault: false, allowWrites: true,
  backend: { found: true, enabled: true, allowWrites: true, error: null }, writesPossible: true, ...over,
});

function facts(over: { temporal?: Partial<ServiceStatusFacts['temporal']>; netbox?: Partial<ServiceStatusFacts['netbox']>;
  proxboxApi?: Partial<ServiceStatusFacts['proxboxApi']>; intent?: Partial<ServiceStatusFacts['intent']>; items?: EndpointStatus[] } = {}): ServiceStatusFacts {
  const polling = summarizePollers([{ identity: '1@a', lastAccessMs: NOW }], NOW);
  const items = over.items ?? [endpoint()];
  return {
    checkedAt: new Date(NOW).toISOString(), version: SERVICE_VERSION,
    temporal: {
      reachable: true, namespace: 'default', taskQueue: 'proxbox-intent', uiUrl: 'http://ui', taskQueueUrl: 'http://ui/namespaces/default/task-queues/proxbox-intent',
      workerPolling: true, pollerWindowS: 120, pollers: { workflow: polling, activity: polling }, error: null, ...over.temporal,
    },
    netbox: { configured: true, reachable: true, version: '4.5.0', branchingInstalled: true, error: null, ...over.netbox },
    proxboxApi: {
      configured: true, reachable: true, timeoutMs: 30_000, error: null,
      capabilities: { registerDeletion: true, taskStatus: true, lxcConfigProxy: true, guestStatusProxy: true }, ...over.proxboxApi,
    },
    intent: { masterFlag: true, selfApproveAllowed: false, deletionRequestTtlDays: 7, ...over.intent },
    endpoints: { count: items.length, writable: items.filter((e) => e.writesPossible).length, probed: items.length, unprobedReason: null, items },
  };
}
const codes = (f: ServiceStatusFacts) => summarizeStatus(f).problems.map((p) => p.code);

describe('summarizeStatus', () => {
  it('is ok with no problem when everything answers and every gate is open, and matches its schema', () => {
    const answer = summarizeStatus(facts());
    expect(answer).toMatchObject({ status: 'ok', problems: [] });
    expect(ServiceStatus.parse(answer)).toEqual(answer);
  });

  it('names "Job stays queued" with the queue, the namespace and how to start a worker when nobody polls', () => {
    const [problem] = summarizeStatus(facts({ temporal: { workerPolling: false, pollers: null } })).problems;
    expect(problem!.code).toBe('no_worker_polling');
    expect(problem!.message).toMatch(/^Job stays queued: no worker has polled task queue "proxbox-intent" in namespace "default"/);
    expect(problem!.message).toContain('npm run start:worker');
  });

  it('reports Temporal unreachable instead of a missing worker when it does not answer', () => {
    expect(codes(facts({ temporal: { reachable: false, workerPolling: false, pollers: null, error: 'no answer within 3000 ms' } }))).toEqual(['temporal_unreachable']);
  });

  it('uses the guide\'s sentences for the Common Errors it can see', () => {
    const answer = summarizeStatus(facts({ netbox: { branchingInstalled: false }, intent: { masterFlag: false }, proxboxApi: { configured: false, reachable: false, capabilities: null } }));
    expect(answer.status).toBe('degraded');
    expect(answer.problems.map((p) => p.message.split(':')[0])).toEqual([
      'netbox-branching is not installed', 'Intent master flag is disabled', 'No FastAPIEndpoint is configured',
    ]);
  });

  it('tells NetBox down from NetBox unconfigured, and a refused backend URL from none', () => {
    expect(codes(facts({ netbox: { reachable: false, error: 'NetBox is unreachable' } }))).toEqual(['netbox_unreachable']);
    expect(codes(facts({ netbox: { configured: false, reachable: false } }))).toEqual(['netbox_not_configured']);
    expect(codes(facts({ proxboxApi: { configured: false, reachable: false, error: 'http is not allowed' }, items: [] }))).toEqual(['backend_url_refused', 'no_endpoints']);
  });

  it('flags a missing deletion registration route, and a proxbox-api that does not answer once (not per endpoint)', () => {
    expect(codes(facts({ proxboxApi: { capabilities: { registerDeletion: false, taskStatus: true, lxcConfigProxy: true, guestStatusProxy: true } } }))).toEqual(['capability_missing']);
    const down = endpoint({ backend: { found: false, enabled: null, allowWrites: null, error: 'unreachable' }, writesPossible: false });
    expect(codes(facts({ proxboxApi: { reachable: false, capabilities: null, error: 'unreachable' }, items: [down, down] }))).toEqual(['proxbox_api_unreachable']);
  });

  it('names each endpoint whose writes either side closes, and why', () => {
    const ours = endpoint({ name: 'ours-off', allowWrites: false, writesPossible: false });
    const theirs = endpoint({ name: 'theirs-off', backend: { found: true, enabled: true, allowWrites: false, error: null }, writesPossible: false });
    const gone = endpoint({ name: 'gone', backend: { found: false, enabled: null, allowWrites: null, error: null }, writesPossible: false });
    const messages = summarizeStatus(facts({ items: [endpoint(), ours, theirs, gone] })).problems.map((p) => p.message);
    expect(messages).toEqual([
      'writes_disabled_for_endpoint: endpoint "ours-off" (lab-cluster): allowWrites is off here (PATCH /api/v1/proxmox-endpoints/{id}).',
      'writes_disabled_for_endpoint: endpoint "theirs-off" (lab-cluster): proxbox-api reports enabled=true, allow_writes=false.',
      'writes_disabled_for_endpoint: endpoint "gone" (lab-cluster): proxbox-api has no endpoint 1.',
    ]);
  });
});

describe('readiness', () => {
  it('stays ready without a worker unless READYZ_REQUIRE_WORKER asks otherwise, and says so in the body', () => {
    expect(readiness({ database: true, temporal: true, workerPolling: false }, false)).toEqual({
      httpStatus: 200, body: { status: 'ready', database: 'ok', temporal: 'ok', worker: 'none', workerRequired: false },
    });
    expect(readiness({ database: true, temporal: true, workerPolling: false }, true).httpStatus).toBe(503);
    expect(readiness({ database: true, temporal: true, workerPolling: null }, true).body.worker).toBe('unknown');
    expect(readiness({ database: true, temporal: true, workerPolling: true }, true).httpStatus).toBe(200);
  });
  it('is not ready when the database or Temporal is unreachable', () => {
    expect(readiness({ database: false, temporal: true, workerPolling: true }, false).body).toMatchObject({ status: 'not_ready', database: 'unreachable' });
    expect(readiness({ database: true, temporal: false, workerPolling: null }, false).httpStatus).toBe(503);
  });
});

describe('redactSecrets', () => {
  it('removes URL credentials, query strings and the secrets it is given', () => {
    expect(redactSecrets('GET https://admin:hunter2@netbox.example/api/status/ failed')).toBe('GET https://***@netbox.example/api/status/ failed');
    expect(redactSecrets('at http://nb.example/api/?token=abc123 refused')).toBe('at http://nb.example/api/?*** refused');
    expect(redactSecrets('Invalid token nbt_simkey.simtoken', ['nbt_simkey.simtoken'])).toBe('Invalid token ***');
    expect(redactSecrets('connect ECONNREFUSED 127.0.0.1:8001')).toBe('connect ECONNREFUSED 127.0.0.1:8001');
  });
});

describe('SERVICE_VERSION', () => {
  it('is package.json\'s version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SERVICE_VERSION).toBe(pkg.version);
  });
});
