/** Unit tests of job token sealing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameSecret } from './bearer-auth.guard';
import { TokenSeal } from './token-seal';

describe('token handling', () => {
  it('seals a token so the stored text does not contain it, and opens it again', () => {
    const seal = new TokenSeal('service-secret-0123456789');
    const sealed = seal.seal('backend-token-xyz');
    assert.ok(!sealed.includes('backend-token-xyz'));
    assert.notEqual(seal.seal('backend-token-xyz'), sealed, 'a fresh IV every time');
    assert.equal(seal.open(sealed), 'backend-token-xyz');
  });

  it('refuses a sealed token made with another secret or altered', () => {
    const sealed = new TokenSeal('service-secret-0123456789').seal('t');
    assert.throws(() => new TokenSeal('another-secret-0123456789').open(sealed));
    const [v, iv, tag, body] = sealed.split('.');
    // One bit of the ciphertext flipped (prepending text to the base64 could decode to the same byte, 1 time in 256).
    const altered = Buffer.from(body, 'base64');
    altered[0] ^= 1;
    assert.throws(() =>
      new TokenSeal('service-secret-0123456789').open([v, iv, tag, altered.toString('base64')].join('.')),
    );
    assert.throws(() => new TokenSeal('service-secret-0123456789').open('plain text'), /not a sealed token/);
  });

  it('compares secrets of any length', () => {
    assert.equal(sameSecret('abc', 'abc'), true);
    assert.equal(sameSecret('abc', 'abcd'), false);
    assert.equal(sameSecret('', 'abc'), false);
  });
});
