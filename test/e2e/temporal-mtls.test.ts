import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Connection } from '@temporalio/client';
import { parseEnv } from '../../config/env';
import { temporalConnectionOptions } from '../../config/temporal-connection';
import { startStack, type Stack } from '../support/stack';
import { finishedJob, guestBranch } from '../support/merges';
import { composeTlsMaterial, startMtlsFrontend, type ComposeTlsMaterial } from '../support/tls';
import { eventually } from '../support/eventually';

/**
 * Production runs the Temporal frontend with mutual TLS (docker-compose.temporal.yml). Here a frontend that requires
 * client certificates, with the certificates the compose file's own job makes, stands in front of the dev server, and
 * our whole stack (API, worker, reconciler Schedule) runs through it with TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT and
 * TEMPORAL_TLS_KEY as the compose file sets them; a client without our certificate gets nowhere.
 */
describe('mutual TLS to the Temporal frontend', () => {
  let pki: ComposeTlsMaterial;
  let stranger: ComposeTlsMaterial;
  let frontend: Awaited<ReturnType<typeof startMtlsFrontend>>;
  let s: Stack;
  beforeAll(async () => {
    pki = composeTlsMaterial();
    stranger = composeTlsMaterial(); // another run: another CA
    frontend = await startMtlsFrontend(pki, inject('temporalAddress'));
    s = await startStack({
      env: {
        TEMPORAL_ADDRESS: frontend.address, TEMPORAL_TLS_CA: pki.path('ca.pem'), TEMPORAL_TLS_CERT: pki.path('client.pem'),
        TEMPORAL_TLS_KEY: pki.path('client.key'), TEMPORAL_TLS_SERVER_NAME: 'temporal',
      },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await frontend?.close();
    pki?.remove();
    stranger?.remove();
  });

  it('runs an apply end to end with the client certificate from the configuration', async () => {
    expect(s.system.temporalSecurity).toEqual({ tls: true, clientCertificate: true, payloadKeyId: null });
    const { branch } = guestBranch(s, 'mtls-web', 741);
    await s.netbox.mergeBranch(branch.id, 'alice');
    const jobId = await eventually(async () => (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0]?.id as string | undefined, 'the job');
    expect((await finishedJob(s, jobId)).state).toBe('succeeded');
    expect(s.proxbox.cluster.getGuest(741)).toBeTruthy();
    expect((await s.call(s.tokens.carol, 'GET', '/readyz')).body).toMatchObject({ temporal: 'ok' });
  });

  it('refuses a client without a certificate, or with one from another CA', async () => {
    const before = frontend.handshakesRefused();
    const attempt = (env: Record<string, string>) => Connection.connect({
      ...temporalConnectionOptions(parseEnv({ TEMPORAL_ADDRESS: frontend.address, TEMPORAL_TLS_CA: pki.path('ca.pem'), TEMPORAL_TLS_SERVER_NAME: 'temporal', ...env })),
      connectTimeout: '3s',
    }).then(async (c) => { await c.close(); return 'connected'; }, () => 'refused');
    expect(await attempt({})).toBe('refused');
    expect(await attempt({ TEMPORAL_TLS_CERT: stranger.path('client.pem'), TEMPORAL_TLS_KEY: stranger.path('client.key') })).toBe('refused');
    expect(frontend.handshakesRefused()).toBeGreaterThan(before);
    expect(await attempt({ TEMPORAL_TLS_CERT: pki.path('client.pem'), TEMPORAL_TLS_KEY: pki.path('client.key') })).toBe('connected');
  });
});
