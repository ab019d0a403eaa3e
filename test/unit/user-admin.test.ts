import { describe, expect, it } from 'vitest';
import { NewToken, NewUser, tokenState } from '../../domain/user-admin';

describe('user administration inputs', () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  it('names a token revoked before expired, and active otherwise', () => {
    expect(tokenState({ revokedAt: new Date(now - 1), expiresAt: new Date(now - 1) }, now)).toBe('revoked');
    expect(tokenState({ revokedAt: null, expiresAt: new Date(now) }, now)).toBe('expired');
    expect(tokenState({ revokedAt: null, expiresAt: new Date(now + 1) }, now)).toBe('active');
    expect(tokenState({ revokedAt: null, expiresAt: null }, now)).toBe('active');
  });
  it('refuses unknown permissions and past expiry dates', () => {
    expect(NewUser.safeParse({ username: 'dave', permissions: ['view', 'root'] }).success).toBe(false);
    expect(NewUser.parse({ username: 'dave' }).permissions).toEqual([]);
    expect(NewToken.safeParse({ expiresAt: '2000-01-01T00:00:00Z' }).success).toBe(false);
  });
});
