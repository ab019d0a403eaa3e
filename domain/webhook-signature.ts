/** NetBox webhook signatures (netbox.md §5): `X-Hook-Signature` is the lowercase hex HMAC-SHA512 of the raw body. */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SHA512_HEX = /^[0-9a-f]{128}$/;

export function signWebhookBody(secret: string, rawBody: string | Uint8Array): string {
  return createHmac('sha512', secret).update(rawBody).digest('hex');
}

/**
 * Checks the header against the raw bytes as received; never re-serialise a parsed body to check it.
 * Hex case is ignored. A missing, malformed or wrong-length header is rejected without leaking where it differs.
 */
export function verifyWebhookSignature(secret: string, rawBody: string | Uint8Array, header: string | null | undefined): boolean {
  if (!secret) return false;
  const expected = Buffer.from(signWebhookBody(secret, rawBody), 'hex');
  const given = typeof header === 'string' ? header.trim().toLowerCase() : '';
  const ok = SHA512_HEX.test(given);
  // Compare equal-length buffers even for a malformed header, so the timing does not depend on its shape.
  const actual = ok ? Buffer.from(given, 'hex') : Buffer.alloc(expected.length);
  return timingSafeEqual(expected, actual) && ok;
}
