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
});
