import { describe, expect, it } from 'vitest';
import { checkDecision, executionRefusal, isSelfApproval } from '../../domain/deletion-rules';
import { signDecision, verifyDecision } from '../../domain/approval-signature';
import { applySettingsChange, DEFAULT_SETTINGS, SELF_APPROVAL_PHRASE } from '../../domain/settings';
import { issuerChainFor, newApiToken, tokenExpiry } from '../../domain/tokens';
import { SecretBox, isSealed, newSecretKey, parseSecretKey } from '../../domain/secret-box';
import { backendUrlRefusal, parseAllowedHosts } from '../../domain/backend-url';
import { diffForAudit, maskSecrets } from '../../domain/audit';
import { SELF_APPROVAL_BLOCKED } from '../../domain/messages';
import { ConfigError, parseEnv, requireForProduction } from '../../config/env';

describe('four eyes: a token issued by the requester is the requester', () => {
  const base = {
    action: 'approve' as const, state: 'pending' as const, requestVmid: 190, requestedBy: 'alice', actor: 'bob',
    actorTokenIssuers: ['admin'], actorPermissions: ['authorize_deletion_request'], selfApproveAllowed: false, typedVmid: 190,
  };
  it('refuses an approval made with a token alice issued, directly or through a token she issued', () => {
    expect(checkDecision(base)).toBeNull();
    expect(checkDecision({ ...base, actorTokenIssuers: ['alice'] })).toEqual({ code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED });
    expect(checkDecision({ ...base, actorTokenIssuers: ['mallory', 'alice', 'system:bootstrap'] })).toMatchObject({ code: 'self_approval_blocked' });
    expect(checkDecision({ ...base, actorTokenIssuers: ['alice'], selfApproveAllowed: true })).toBeNull();
  });
  it('re-checks it right before the destroy', () => {
    const exec = { closedGate: null, approver: 'bob', approverTokenIssuers: ['alice'], approverPermissions: ['authorize_deletion_request'], requestedBy: 'alice', selfApproveAllowed: false };
    expect(executionRefusal(exec)).toMatchObject({ code: 'self_approval_blocked' });
    expect(executionRefusal({ ...exec, approverTokenIssuers: ['admin'] })).toBeNull();
  });
  it('a token issued by someone carries their whole chain', () => {
    expect(issuerChainFor({ name: 'mallory', tokenIssuers: ['alice', 'system:bootstrap'] })).toEqual(['mallory', 'alice', 'system:bootstrap']);
    expect(issuerChainFor({ name: 'alice', tokenIssuers: ['alice'] })).toEqual(['alice']);
    expect(isSelfApproval({ actor: 'bob', actorTokenIssuers: issuerChainFor({ name: 'mallory', tokenIssuers: ['alice'] }), requestedBy: 'alice' })).toBe(true);
  });
  it('signs the issuer chain: a decision cannot drop it and still verify', () => {
    const secret = 'server-secret-0123456789';
    const signed = signDecision(secret, {
      requestId: 1, workflowId: 'deletion:x:1:2', action: 'approve', actor: 'bob', tokenIssuers: ['alice'], typedVmid: 190,
      issuedAt: new Date().toISOString(), nonce: 'n-12345678',
    });
    expect(verifyDecision(secret, signed, new Date())).toEqual({ ok: true });
    expect(verifyDecision(secret, { ...signed, decision: { ...signed.decision, tokenIssuers: [] } }, new Date())).toMatchObject({ ok: false });
    const { tokenIssuers: _dropped, ...withoutChain } = signed.decision;
    expect(verifyDecision(secret, { ...signed, decision: withoutChain }, new Date())).toMatchObject({ ok: false });
  });
});

describe('self-approval setting', () => {
  it('needs its own phrase to be turned on, and nothing to be turned off', () => {
    expect(applySettingsChange(DEFAULT_SETTINGS, { selfApproveAllowed: true })).toMatchObject({ ok: false, code: 'self_approval_confirmation_required' });
    expect(applySettingsChange(DEFAULT_SETTINGS, { selfApproveAllowed: true, selfApprovalConfirmation: 'allow-self-approval ' })).toMatchObject({ ok: false });
    const on = applySettingsChange(DEFAULT_SETTINGS, { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE });
    expect(on).toMatchObject({ ok: true, settings: { selfApproveAllowed: true } });
    expect(applySettingsChange({ ...DEFAULT_SETTINGS, selfApproveAllowed: true }, { selfApproveAllowed: false })).toMatchObject({ ok: true, settings: { selfApproveAllowed: false } });
    expect(applySettingsChange({ ...DEFAULT_SETTINGS, selfApproveAllowed: true }, { selfApproveAllowed: true }), 'unchanged: no phrase needed').toMatchObject({ ok: true });
  });
  it('is refused to someone with a pending request of their own, and the refusal changes nothing else', () => {
    const refused = applySettingsChange(DEFAULT_SETTINGS, { selfApproveAllowed: true, selfApprovalConfirmation: SELF_APPROVAL_PHRASE, deletionRequestTtlDays: 2 }, { pendingRequestsOfActor: 1 });
    expect(refused).toMatchObject({ ok: false, code: 'self_approval_change_blocked' });
  });
});

describe('tokens', () => {
  it('store nothing of the random part in plaintext', () => {
    const t = newApiToken();
    expect(Object.keys(t).sort()).toEqual(['hash', 'token']);
    expect(t.hash).not.toContain(t.token.slice(4, 10));
  });
  it('expire when asked, never with null, or after the default lifetime', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(tokenExpiry(now, undefined, null)).toBeNull();
    expect(tokenExpiry(now, undefined, 30)?.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(tokenExpiry(now, null, 30)).toBeNull();
    expect(tokenExpiry(now, new Date('2026-02-01T00:00:00Z'), 30)?.toISOString()).toBe('2026-02-01T00:00:00.000Z');
  });
});

describe('secrets at rest (AES-256-GCM)', () => {
  const key = newSecretKey();
  const box = SecretBox.fromBase64(key);
  it('seals and opens; the sealed form contains nothing of the plaintext', () => {
    const sealed = box.seal('sim-proxbox-key', 'backend.api_key');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('sim-proxbox-key');
    expect(box.seal('sim-proxbox-key', 'backend.api_key')).not.toBe(sealed);
    expect(box.open(sealed, 'backend.api_key')).toBe('sim-proxbox-key');
    expect(box.needsReseal(sealed)).toBe(false);
    expect(box.needsReseal('sim-proxbox-key')).toBe(true);
  });
  it('refuses an altered value, another column and an unknown key', () => {
    const sealed = box.seal('k', 'backend.api_key');
    const parts = sealed.split(':');
    parts[5] = Buffer.from('x').toString('base64url');
    expect(() => box.open(parts.join(':'), 'backend.api_key')).toThrow(/does not decrypt/);
    expect(() => box.open(sealed, 'other.column')).toThrow(/does not decrypt/);
    expect(() => SecretBox.fromBase64(newSecretKey()).open(sealed, 'backend.api_key')).toThrow(/neither SECRETS_ENCRYPTION_KEY nor SECRETS_ENCRYPTION_KEY_PREVIOUS/);
  });
  it('rotates: the previous key still opens, and its values need sealing again', () => {
    const next = SecretBox.fromBase64(newSecretKey(), key);
    const old = box.seal('k', 'backend.api_key');
    expect(next.open(old, 'backend.api_key')).toBe('k');
    expect(next.needsReseal(old)).toBe(true);
    expect(next.needsReseal(next.seal('k', 'backend.api_key'))).toBe(false);
  });
  it('accepts only 32-byte keys', () => {
    expect(parseSecretKey(Buffer.alloc(32, 1).toString('base64'))).not.toBeNull();
    expect(parseSecretKey(Buffer.alloc(32, 1).toString('base64url'))).not.toBeNull();
    expect(parseSecretKey(Buffer.alloc(16, 1).toString('base64'))).toBeNull();
    expect(parseSecretKey('not base64!')).toBeNull();
  });
});

describe('where the proxbox-api key may go', () => {
  const strict = { allowHttp: false, allowedHosts: [] };
  it('https only unless plain http is allowed', () => {
    expect(backendUrlRefusal('https://proxbox.example:8000', strict)).toBeNull();
    expect(backendUrlRefusal('http://proxbox.example:8000', strict)).toMatch(/plain http is refused.*PROXBOX_API_ALLOW_HTTP=true/);
    expect(backendUrlRefusal('http://127.0.0.1:8002', { ...strict, allowHttp: true })).toBeNull();
    expect(backendUrlRefusal('ftp://proxbox.example', strict)).toMatch(/must use https/);
  });
  it('nothing that hides the host, and only allowed hosts when a list is set', () => {
    expect(backendUrlRefusal('https://user:pw@proxbox.example', strict)).toMatch(/user name or password/);
    expect(backendUrlRefusal('https://proxbox.example/?next=https://evil', strict)).toMatch(/query or fragment/);
    const listed = { allowHttp: false, allowedHosts: parseAllowedHosts(' Proxbox.example , other.example:8443') };
    expect(backendUrlRefusal('https://proxbox.example:8000/', listed)).toBeNull();
    expect(backendUrlRefusal('https://other.example:8443', listed)).toBeNull();
    expect(backendUrlRefusal('https://other.example', listed)).toMatch(/not in PROXBOX_API_ALLOWED_HOSTS/);
    expect(backendUrlRefusal('https://evil.example', listed)).toMatch(/host evil.example is not in PROXBOX_API_ALLOWED_HOSTS/);
  });
  it('the environment obeys the same rules, and a production start needs SECRETS_ENCRYPTION_KEY', () => {
    expect(() => parseEnv({ PROXBOX_API_URL: 'http://proxbox.example' })).toThrow(/PROXBOX_API_URL: plain http is refused/);
    expect(parseEnv({ PROXBOX_API_URL: 'http://proxbox.example', PROXBOX_API_ALLOW_HTTP: 'true' }).PROXBOX_API_ALLOW_HTTP).toBe(true);
    expect(() => parseEnv({ PROXBOX_API_URL: 'https://evil.example', PROXBOX_API_ALLOWED_HOSTS: 'proxbox.example' })).toThrow(/not in PROXBOX_API_ALLOWED_HOSTS/);
    expect(() => parseEnv({ SECRETS_ENCRYPTION_KEY: 'short' })).toThrow(/SECRETS_ENCRYPTION_KEY: must be 32 random bytes in base64/);
    const env = parseEnv({ DATABASE_URL: 'postgres://x/y', APPROVAL_SIGNING_SECRET: '0123456789abcdef', NETBOX_WEBHOOK_SECRET: '01234567' });
    expect(() => requireForProduction(env, 'api')).toThrow(ConfigError);
    expect(() => requireForProduction(env, 'api')).toThrow(/Missing required configuration: SECRETS_ENCRYPTION_KEY \(SECRETS_ENCRYPTION_KEY encrypts/);
    expect(() => requireForProduction({ ...env, SECRETS_ENCRYPTION_KEY: newSecretKey() }, 'api')).not.toThrow();
  });
});

describe('the audit log masks secrets', () => {
  it('records what changed, never a secret value', () => {
    expect(diffForAudit({ url: 'https://a', apiKey: 'old-key', timeoutMs: 1 }, { url: 'https://b', apiKey: 'new-key', timeoutMs: 1 })).toEqual({
      url: { from: 'https://a', to: 'https://b' }, apiKey: { from: '(masked)', to: '(masked)' },
    });
    expect(diffForAudit(null, { apiKey: 'k', tokenLifetimeDays: 30 })).toEqual({ apiKey: { from: null, to: '(masked)' }, tokenLifetimeDays: { from: null, to: 30 } });
    expect(maskSecrets({ nested: { password: 'p', token: 't', tokenHash: 'h', webhookSecret: 's', apiKeySet: true } }))
      .toEqual({ nested: { password: '(masked)', token: '(masked)', tokenHash: '(masked)', webhookSecret: '(masked)', apiKeySet: true } });
    expect(maskSecrets({ apiKey: { from: 'old', to: 'new' }, token: { from: null, to: 'pbi_x' } }))
      .toEqual({ apiKey: { from: '(masked)', to: '(masked)' }, token: { from: null, to: '(masked)' } });
  });
});
