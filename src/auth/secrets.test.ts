/** Unit tests of secret redaction. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobEnded, redactSecrets, registerJobSecret, registerSecret } from './secrets';

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

  it("never forgets the service's token nor a running job's, however many jobs come and go", () => {
    registerSecret('service-token-0123456789');
    registerJobSecret('running-job', 'running-job-token-0123456789');
    for (let i = 0; i < 5000; i++) {
      registerJobSecret(`job-${i}`, `token-of-job-${i}-0123456789`);
      jobEnded(`job-${i}`);
    }
    assert.equal(
      redactSecrets('service-token-0123456789 running-job-token-0123456789 token-of-job-4999-0123456789'),
      '[redacted] [redacted] [redacted]',
    );
    // An ended job's token is kept among the last 1,000 ended jobs' only: the memory stays bounded.
    assert.equal(redactSecrets('token-of-job-3000-0123456789'), 'token-of-job-3000-0123456789');
    assert.equal(redactSecrets('token-of-job-4000-0123456789'), '[redacted]');
  });
});
