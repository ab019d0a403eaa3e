import { describe, expect, it } from 'vitest';
import { planUserSync } from '../../domain/user-sync';
import { Username } from '../../domain/usernames';

describe('users from NetBox', () => {
  it('creates active NetBox users missing here, and reports what it leaves alone', () => {
    const plan = planUserSync([
      { username: 'alice', isActive: true },
      { username: 'bob', isActive: true },
      { username: 'Carol', isActive: true },
      { username: 'gone', isActive: false },
      { username: 'józef', isActive: true },
      { username: 'old', isActive: false },
    ], ['bob', 'carol', 'old', 'shim-view']);
    expect(plan).toEqual({
      create: ['alice', 'józef'],
      matched: ['bob', 'old'],
      notCreated: [
        { username: 'Carol', reason: "differs only in case from 'carol' here; names must match exactly" },
        { username: 'gone', reason: 'inactive in NetBox' },
      ],
      notInNetbox: [
        { username: 'carol', reason: 'not in NetBox' },
        { username: 'old', reason: 'inactive in NetBox' },
        { username: 'shim-view', reason: 'not in NetBox' },
      ],
    });
  });

  it('does not create a name this service cannot hold', () => {
    expect(planUserSync([{ username: 'has space', isActive: true }], []).notCreated).toEqual([{ username: 'has space', reason: 'not a username this service accepts' }]);
  });

  it('accepts what NetBox accepts as a username (Django UnicodeUsernameValidator), nothing else', () => {
    for (const ok of ['alice', 'a.b@c+d-e_f', 'józef', 'Ødegård', '田中', 'x'.repeat(150)]) expect(Username.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['', 'has space', 'semi;colon', 'slash/', 'x'.repeat(151)]) expect(Username.safeParse(bad).success, bad).toBe(false);
  });
});
