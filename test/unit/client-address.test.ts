import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../domain/client-address';

describe('the client address behind per-IP limits', () => {
  it('is the socket peer when the peer is not a trusted proxy, whatever X-Forwarded-For claims', () => {
    expect(clientAddress('203.0.113.9', '198.51.100.1', [])).toBe('203.0.113.9');
    expect(clientAddress('203.0.113.9', '198.51.100.1', ['10.0.0.2'])).toBe('203.0.113.9');
    expect(clientAddress('::ffff:203.0.113.9', null, [])).toBe('203.0.113.9');
    expect(clientAddress(null, null, [])).toBe('unknown');
  });

  it('behind trusted proxies, is the right-most forwarded address that is not one of them', () => {
    expect(clientAddress('10.0.0.2', '198.51.100.1', ['10.0.0.2'])).toBe('198.51.100.1');
    // The client wrote the left-most entries itself: a forged "1.2.3.4" changes nothing.
    expect(clientAddress('10.0.0.2', '1.2.3.4, 198.51.100.1, 10.0.0.3', ['10.0.0.2', '10.0.0.3'])).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.2', '10.0.0.3', ['10.0.0.2', '10.0.0.3'])).toBe('10.0.0.2');
    expect(clientAddress('::ffff:10.0.0.2', '198.51.100.1', ['10.0.0.2'])).toBe('198.51.100.1');
  });
});
