/**
 * A payload encryption key for tests only (never used anywhere else): the encrypted histories in test/histories
 * (`*-encrypted.json`) were recorded with it, and the replay test decrypts them with it.
 */
export const TEST_PAYLOAD_KEY = 'cHJveGJveC1pbnRlbnQgdGVzdCBwYXlsb2FkIGtleSE=';
