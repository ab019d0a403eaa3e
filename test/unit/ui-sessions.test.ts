import { describe, expect, it } from 'vitest';
import {
  SESSION_IDLE_MS, csrfTokenFor, csrfTokenMatches, hashSessionSecret, newSessionSecret, safeNextPath, sameOriginRequest, sessionAlive,
} from '../../domain/sessions';

describe('operator-page sessions (domain/sessions.ts)', () => {
  it('stores only the hash of a random secret', () => {
    const a = newSessionSecret();
    const b = newSessionSecret();
    expect(a.secret).not.toBe(b.secret);
    expect(a.secret.length).toBeGreaterThanOrEqual(43);
    expect(a.hash).toBe(hashSessionSecret(a.secret));
    expect(a.hash).not.toContain(a.secret);
  });

  it('is alive until revoked, idle for too long, or past its absolute limit', () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const live = { lastSeenAt: new Date(now.getTime() - 60_000), expiresAt: new Date(now.getTime() + 60_000), revokedAt: null };
    expect(sessionAlive(live, now)).toBe(true);
    expect(sessionAlive({ ...live, revokedAt: now }, now)).toBe(false);
    expect(sessionAlive({ ...live, lastSeenAt: new Date(now.getTime() - SESSION_IDLE_MS) }, now)).toBe(false);
    expect(sessionAlive({ ...live, expiresAt: now }, now)).toBe(false);
  });

  it('derives a CSRF token per session that only the same session matches', () => {
    const { secret } = newSessionSecret();
    const token = csrfTokenFor(secret);
    expect(csrfTokenMatches(secret, token)).toBe(true);
    expect(csrfTokenMatches(newSessionSecret().secret, token)).toBe(false);
    expect(csrfTokenMatches(secret, token.slice(1))).toBe(false);
    expect(csrfTokenMatches(secret, '')).toBe(false);
  });

  it('follows only local /ui paths after signing in', () => {
    expect(safeNextPath('/ui/apply-jobs?state=running')).toBe('/ui/apply-jobs?state=running');
    expect(safeNextPath('/ui')).toBe('/ui');
    for (const bad of [undefined, '', '//evil.example/ui', 'https://evil.example/ui', '/\\evil.example', '/uix', '/api/v1/me', 'javascript:alert(1)', '/ui/ x']) {
      expect(safeNextPath(bad), String(bad)).toBe('/ui/dashboard');
    }
  });

  it('accepts a form only from our own origin', () => {
    const own = 'http://127.0.0.1:8080';
    expect(sameOriginRequest({ secFetchSite: 'same-origin', origin: own }, own)).toBe(true);
    expect(sameOriginRequest({ origin: own }, own)).toBe(true);
    expect(sameOriginRequest({ referer: `${own}/ui/dashboard` }, own)).toBe(true);
    expect(sameOriginRequest({ secFetchSite: 'cross-site', origin: own }, own)).toBe(false);
    expect(sameOriginRequest({ secFetchSite: 'same-site', origin: 'http://127.0.0.1:9090' }, own)).toBe(false);
    expect(sameOriginRequest({ origin: 'http://evil.example' }, own)).toBe(false);
    expect(sameOriginRequest({ origin: 'null' }, own)).toBe(false);
    expect(sameOriginRequest({ referer: 'http://evil.example/x' }, own)).toBe(false);
    expect(sameOriginRequest({}, own)).toBe(false);
  });
});
