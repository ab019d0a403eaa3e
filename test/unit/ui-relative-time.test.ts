import { describe, expect, it } from 'vitest';
import { relativeTime } from '../../ui/pages/deletion-requests';

describe('relativeTime (the expiry of a deletion request, for people)', () => {
  const now = new Date('2026-12-07T12:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms);
  it.each([
    [45_000, 'in 45 s'], [-45_000, '45 s ago'], [10 * 60_000, 'in 10 min'], [-89 * 60_000, '89 min ago'],
    [3 * 3600_000, 'in 3 h'], [-35 * 3600_000, '35 h ago'], [36 * 3600_000, 'in 2 days'], [7 * 86400_000, 'in 7 days'], [-86400_000 * 1.4, '34 h ago'],
  ])('%i ms from now is "%s"', (ms, text) => {
    expect(relativeTime(at(ms), now)).toBe(text);
  });
  it('counts hours up to 36, then days (never "1 days")', () => {
    expect(relativeTime(at(35 * 3600_000), now)).toBe('in 35 h');
    expect(relativeTime(at(36 * 3600_000), now)).toBe('in 2 days');
    expect(relativeTime(at(-(36 * 3600_000)), now)).toBe('2 days ago');
  });
});
