/** Unit tests of secret redaction. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactSecrets, registerSecret } from './secrets';

describe('secret redaction', () => {
  it('replaces every registered secret, and only those', () => {
    registerSecret('backend-token-0123456789');
    registerSecret('short');
    registerSecret(undefined);
    assert.equal(
      redactSecrets('token backend-token-0123456789 refused; again backend-token-0123456789; short stays'),
      'token [redacted] refused; again [redacted]; short stays',
    );
  });

  it('removes the user name and password of every URL', () => {
    assert.equal(
      redactSecrets('GET http://user:S3cretPass99@host:8080/admin-api failed; see https://only-user@cdn/x.jpg'),
      'GET http://[redacted]@host:8080/admin-api failed; see https://[redacted]@cdn/x.jpg',
    );
    assert.equal(
      redactSecrets('mail ops@example.com about http://host/a@b'),
      'mail ops@example.com about http://host/a@b',
    );
  });
});
