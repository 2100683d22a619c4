/** Unit tests of the words about a model's quality: one statement, consistent with itself, small counts as counts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aboutInTen,
  atTillWords,
  crossValidationCount,
  describeQuality,
  verdictOf,
  type ProductFigures,
} from './model-quality';

const product = (name: string, atTill: number | null, photos = 10, scans = 3, namedRight = 3): ProductFigures => ({
  name,
  photos,
  scans,
  namedRight,
  atTill,
});

describe('model quality in words', () => {
  it('says what the till will do, and explains why cross-validation names more', () => {
    const quality = describeQuality({
      products: [product('Tea', 0.7), product('Soap', 0.65), product('Oil', 0.2, 10, 3, 2)],
      photos: 30,
      till: { named: 0.46, wrong: 0.012, unknownShare: 0.1 },
      advice: [],
    });
    assert.equal(
      quality.headline,
      '3 products from 30 photos. At the till, expect about 5 in 10 scans of these products to be named, and a ' +
        'wrong product about once in 100 scans (when 10 in 100 scans show something the shop does not sell); for ' +
        'the rest the till asks for the barcode. 2 of 3 products are usually named.',
    );
    assert.match(quality.explanation, /^Cross-validation named 8 of 9 held-out photos right: /, 'a count, no percent');
    assert.match(quality.explanation, /scans at the till come on other days, in other light/);
    assert.match(quality.explanation, /so it names fewer \(about 5 in 10\)\.$/);
  });

  it('says what would raise a low estimate: which products, how many photos, taken how; never "Nothing"', () => {
    const quality = describeQuality({
      products: [product('Tea', 0.1, 5), product('Soap', 0.7), product('Oil', 0.35, 6), product('Rice', 0.62)],
      photos: 31,
      till: { named: 0.44, wrong: 0.01, unknownShare: 0.1 },
      advice: ['Tea and Oil look alike: add photos that show the difference, or sell them by barcode'],
    });
    assert.equal(
      quality.advice[0],
      'To have more scans named, add photos of Tea and Oil, the products the till will name least: enough for 10 ' +
        'or more of each, taken the way the till sees them (at the till, in its light, on other days, held as a ' +
        'cashier holds them). More photos like the ones already taken add little.',
    );
    assert.equal(
      quality.advice[1],
      'Tea and Oil look alike: add photos that show the difference, or sell them by barcode',
    );
    assert.doesNotMatch(quality.advice.join(' '), /Nothing/);
    const all = describeQuality({
      products: [product('Tea', 0.2, 20), product('Soap', 0.25, 12)],
      photos: 32,
      till: { named: 0.22, wrong: 0, unknownShare: 0 },
      advice: [],
    });
    assert.match(all.advice[0], /add photos of every product: enough for 20 or more of each/);
    assert.match(all.headline, /a wrong product less than once in 100 scans \(when 0 in 100 scans show/);
    assert.match(all.headline, /0 of 2 products are usually named\.$/);
  });

  it('says "Nothing" only when the till names most scans and no product needs anything', () => {
    const quality = describeQuality({
      products: [product('Tea', 0.8), product('Soap', 0.7)],
      photos: 20,
      till: { named: 0.75, wrong: 0.01, unknownShare: 0.1 },
      advice: [],
    });
    assert.deepEqual(quality.advice, [
      'Nothing: every product has enough photos, none looks like another, and most scans will be named.',
    ]);
    assert.match(quality.headline, /2 of 2 products are usually named\.$/);
  });

  it('says so when there were too few photos to measure the till', () => {
    const quality = describeQuality({
      products: [product('Tea', null, 2, 0, 0), product('Soap', null, 2, 0, 0)],
      photos: 4,
      till: null,
      advice: [],
    });
    assert.match(quality.headline, /^2 products from 4 photos\. There were too few photos to measure what the till/);
    assert.equal(
      quality.explanation,
      'No photo could be held out to check the model: every product needs at least 3 photos.',
    );
    assert.match(quality.advice[0], /^Add photos until every product has at least 3/);
  });

  it("words a product's figures coarsely, as counts when they are small", () => {
    assert.equal(crossValidationCount(product('Tea', 0.3, 10, 3, 3)), '3 of 3');
    assert.equal(crossValidationCount(product('Tea', null, 2, 0, 0)), 'none held out');
    assert.equal(atTillWords(product('Tea', 0.33)), 'about 3 in 10');
    assert.equal(atTillWords(product('Tea', null)), 'not measured');
    assert.equal(verdictOf(product('Tea', 0.33)), 'sometimes');
    assert.equal(verdictOf(product('Tea', 0.6)), 'usually');
    assert.equal(verdictOf(product('Tea', 0.29)), 'seldom');
    assert.equal(aboutInTen(0.04), 'fewer than 1 in 10');
    assert.equal(aboutInTen(0.97), 'nearly all');
  });

  it('shows a percentage beside a count only from 20 held-out photos on', () => {
    const products = Array.from({ length: 10 }, (_, i) => product(`P${i}`, 0.5, 10, 2, i < 9 ? 2 : 1));
    const quality = describeQuality({
      products,
      photos: 100,
      till: { named: 0.5, wrong: 0.01, unknownShare: 0.1 },
      advice: [],
    });
    assert.match(quality.explanation, /^Cross-validation named 19 of 20 held-out photos right \(95 %\): /);
  });
});
