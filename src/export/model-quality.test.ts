/** Unit tests of the words about a model's quality: one statement, consistent with itself, small counts as counts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aboutInTen,
  atTillWords,
  crossValidationCount,
  describeQuality,
  photoAdvice,
  qualityLines,
  verdictOf,
  type ProductFigures,
  type QualityFigures,
} from './model-quality';

const product = (name: string, atTill: number | null, photos = 10, scans = 3, namedRight = 3): ProductFigures => ({
  name,
  photos,
  scans,
  namedRight,
  atTill,
});

const shop = (figures: Partial<QualityFigures> & Pick<QualityFigures, 'products'>): QualityFigures => ({
  photos: figures.products.reduce((sum, p) => sum + p.photos, 0),
  till: null,
  lookAlikes: [],
  photoFindings: [],
  tillScans: null,
  ...figures,
});

describe('model quality in words', () => {
  it('says what the till will do, and why cross-validation names more', () => {
    const quality = describeQuality(
      shop({
        products: [product('Tea', 0.7), product('Soap', 0.65), product('Oil', 0.2, 10, 3, 2)],
        till: { named: 0.46, wrong: 0.012, unknownShare: 0.1 },
      }),
    );
    assert.equal(
      quality.headline,
      '3 products from 30 photos. At the till, expect about 5 in 10 scans of these products to be named, and a ' +
        'wrong product about once in 100 scans (when 10 in 100 scans show something the shop does not sell); for ' +
        'the rest the till asks for the barcode. 2 of 3 products are usually named.',
    );
    assert.match(quality.explanation, /^Cross-validation named 8 of 9 held-out photos right: /, 'a count, no percent');
    assert.match(quality.explanation, /scans at the till come on other days, in other light/);
    assert.match(
      quality.explanation,
      /at least 90 % sure: expect about 5 in 10 of them to be named \(an estimate: no scan confirmed at the till has been sent yet\)\. The model assumes that up to 10 in 100 scans show something the shop does not sell: a backend that knows its till's mix states it with each job, and the scans the cashiers confirm as none measure it\.$/,
    );
  });

  it("says what the till's confirmed scans measured, as counts with an upper bound on the wrong ones", () => {
    const tillScans = {
      ofProducts: 24,
      namedRight: 20,
      namedWrong: 1,
      ofNone: 3,
      namedAsProduct: 0,
      wrongUpTo: 0.183,
      unknownShareFrom: 'scans' as const,
      sincePrevious: null,
    };
    const quality = describeQuality(
      shop({
        products: [product('Tea', 0.9), product('Soap', 0.8), product('Oil', 0.7)],
        till: { named: 20 / 24, wrong: 0.04, unknownShare: 0.11 },
        tillScans,
      }),
    );
    assert.equal(
      quality.explanation,
      "Cross-validation named 9 of 9 held-out photos right: each was named, among the shop's products, by a model " +
        "trained without it. Measured on 27 scans the till's cashiers confirmed, each judged at the till's threshold " +
        'by a model that did not learn from it: 20 of 24 scans of these products named right and 1 as another ' +
        'product; 0 of 3 scans of other things named as a product (1 wrong in 27: at most 18 % of scans like these ' +
        'are named wrongly, with 95 % confidence).',
    );
    const onlyNone = describeQuality(
      shop({
        products: [product('Tea', 0.9), product('Soap', 0.8), product('Oil', 0.7)],
        till: { named: 0.5, wrong: 0.01, unknownShare: 1 },
        tillScans: { ...tillScans, ofProducts: 0, namedRight: 0, namedWrong: 0 },
      }),
    );
    const withPrevious = describeQuality(
      shop({
        products: [product('Tea', 0.9), product('Soap', 0.8), product('Oil', 0.7)],
        till: { named: 20 / 24, wrong: 0.04, unknownShare: 0.11 },
        tillScans: {
          ...tillScans,
          sincePrevious: {
            trainingId: 't-1',
            trainedAt: '2026-12-01T09:30:00.000Z',
            thisModel: { ofProducts: 12, namedRight: 9, namedWrong: 0, ofNone: 2, namedAsProduct: 0 },
            previousModel: { ofProducts: 12, namedRight: 4, namedWrong: 1, ofNone: 2, namedAsProduct: 1 },
          },
        },
      }),
    );
    assert.ok(
      withPrevious.explanation.endsWith(
        'Of the 14 scans taken since the last model (trained 2026-12-01; 12 scans of these products and 2 of other ' +
          'things), this model names 9 right and 0 wrongly, 0 of the other things as a product; the last model ' +
          'named 4 right and 1 wrongly, 1 of the other things as a product.',
      ),
      withPrevious.explanation,
    );
    assert.match(
      onlyNone.explanation,
      /Measured on 3 scans .*: 0 of 3 scans of other things named as a product \(0 wrong in 3:/,
    );
  });

  it('says which products would raise a low estimate and how to photograph them; never "Nothing" then', () => {
    const quality = describeQuality(
      shop({
        products: [product('Tea', 0.1, 5), product('Soap', 0.7), product('Oil', 0.35, 6), product('Rice', 0.62)],
        till: { named: 0.44, wrong: 0.01, unknownShare: 0.1 },
        lookAlikes: [{ names: ['Tea', 'Oil'] }],
      }),
    );
    assert.deepEqual(quality.advice, [
      'To have more scans named, add about 10 photos of Tea and Oil, the products the till will name least, taken ' +
        'the way the till sees them (at the till, in its light, on other days, held as a cashier holds them). More ' +
        'photos like the ones already taken add little.',
      'Tea and Oil look alike: add photos that show the difference, or sell them by barcode',
    ]);
    const all = describeQuality(
      shop({
        products: [product('Tea', 0.2, 30), product('Soap', 0.25, 25)],
        till: { named: 0.22, wrong: 0, unknownShare: 0 },
      }),
    );
    assert.match(all.advice[0], /add about 10 photos of each product, taken the way the till sees them/);
    assert.match(all.headline, /a wrong product less than once in 100 scans \(when no scan shows something the shop/);
    assert.match(all.headline, /0 of 2 products are usually named\.$/);
  });

  it('says "Nothing" only when the till names most scans and no product needs anything', () => {
    const quality = describeQuality(
      shop({
        products: [product('Tea', 0.8), product('Soap', 0.7)],
        till: { named: 0.75, wrong: 0.01, unknownShare: 0.1 },
      }),
    );
    assert.deepEqual(quality.advice, [
      'Nothing: every product has enough photos, none looks like another, and most scans will be named.',
    ]);
    assert.match(quality.headline, /2 of 2 products are usually named\.$/);
  });

  it('says why the till could not be measured, and what to add: photos, or products', () => {
    const fewPhotos = describeQuality(
      shop({
        products: [product('Tea', null, 2, 0, 0), product('Soap', null, 2, 0, 0), product('Oil', null, 2, 0, 0)],
      }),
    );
    assert.match(
      fewPhotos.headline,
      /^3 products from 6 photos\. What the till will do could not be measured \(every product needs at least 3 photos\)/,
    );
    assert.equal(
      fewPhotos.explanation,
      'No photo could be held out to check the model: every product needs at least 3 photos.',
    );
    assert.match(fewPhotos.advice[0], /^Add photos until every product has at least 3/);
    // Two products with plenty of photos: cross-validation has no product to play the unknown ones.
    const twoProducts = describeQuality(
      shop({ products: [product('Tea', null, 20, 2, 2), product('Soap', null, 20, 2, 2)] }),
    );
    assert.match(twoProducts.headline, /could not be measured \(that takes at least 3 products: some play the things/);
    assert.equal(
      twoProducts.explanation,
      "Cross-validation named 4 of 4 held-out photos right: each was named, among the shop's products, by a model trained without it.",
    );
    assert.match(twoProducts.advice[0], /^Add products: with at least 3, the model can be checked/);
    assert.doesNotMatch(twoProducts.advice.join(' '), /Nothing/);
  });

  it("words a product's figures coarsely, its verdict from the figure as shown, small counts as counts", () => {
    assert.equal(crossValidationCount(product('Tea', 0.3, 10, 3, 3)), '3 of 3');
    assert.equal(crossValidationCount(product('Tea', null, 2, 0, 0)), 'none held out');
    assert.equal(atTillWords(product('Tea', 0.33)), 'about 3 in 10');
    assert.equal(atTillWords(product('Tea', null)), 'not measured');
    // 0.25 and 0.33 both show as "about 3 in 10", and so get the same verdict; likewise 0.58 and 0.6.
    assert.equal(verdictOf(product('Tea', 0.25)), 'sometimes');
    assert.equal(verdictOf(product('Tea', 0.33)), 'sometimes');
    assert.equal(verdictOf(product('Tea', 0.24)), 'seldom');
    assert.equal(verdictOf(product('Tea', 0.58)), 'usually');
    assert.equal(verdictOf(product('Tea', 0.6)), 'usually');
    assert.equal(aboutInTen(0.04), 'fewer than 1 in 10');
    assert.equal(aboutInTen(0.97), 'nearly all');
  });

  it('shows a percentage beside a count only from 20 held-out photos on', () => {
    const products = Array.from({ length: 10 }, (_, i) => product(`P${i}`, 0.5, 10, 2, i < 9 ? 2 : 1));
    const quality = describeQuality(shop({ products, till: { named: 0.5, wrong: 0.01, unknownShare: 0.1 } }));
    assert.match(quality.explanation, /^Cross-validation named 19 of 20 held-out photos right \(95 %\): /);
  });

  it('asks for more photos of a product with few, and points out repeated photos', () => {
    assert.deepEqual(
      photoAdvice([
        { name: 'Fanta 1.5 l', usable: 3, copies: 0 },
        { name: 'Soap', usable: 6, copies: 2 },
        { name: 'Oil', usable: 1, copies: 1 },
      ]),
      [
        'Fanta 1.5 l has only 3 usable photos: add 2 or more, from other angles and in the light at the till',
        'Soap: 2 photos are copies (or near copies) of another of its photos and add nothing: take photos from other angles instead',
        'Oil has only 1 usable photo: add 4 or more, from other angles and in the light at the till',
        'Oil: 1 photo is a copy (or near copy) of another of its photos and adds nothing: take photos from other angles instead',
      ],
    );
  });

  it('lays the statement out for a terminal, with the warnings that are not advice', () => {
    const quality = { headline: 'H.', explanation: 'E.', advice: ['A1', 'A2'] };
    assert.deepEqual(qualityLines(quality, ['A2', 'trained without the negative bank: x']), [
      'H.',
      'E.',
      '',
      'What to do next:',
      '  - A1',
      '  - A2',
      'Warning: trained without the negative bank: x',
    ]);
  });
});
