/** Unit tests of manifest validation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatasetError } from './dataset.types';
import { parseManifest } from './manifest';

const image = (assetId: string | number, url = `https://shop.example/${assetId}.jpg`) => ({
  assetId,
  url,
  filename: `${assetId}.jpg`,
});

describe('manifest', () => {
  it('keeps product order, merges duplicate productIds and reports bad entries one by one', () => {
    const { manifest, rejected, warnings } = parseManifest({
      channelId: 2,
      version: '7',
      products: [
        { productId: 'b', productName: 'Bread', images: [image(1), image(2)] },
        {
          productId: 5,
          productName: 'Milk',
          images: [image(3), { assetId: 4, url: 'file:///etc/passwd' }, 'nonsense'],
        },
        { productId: 'b', productName: 'Bread again', images: [image(5)] },
        { productName: 'no id', images: [image(6)] },
      ],
    });
    assert.equal(manifest.channelId, '2');
    assert.deepEqual(
      manifest.products.map((p) => [p.productId, p.productName, p.images.map((i) => i.assetId)]),
      [
        ['b', 'Bread', ['1', '2', '5']],
        ['5', 'Milk', ['3']],
      ],
    );
    assert.deepEqual(rejected, [
      { label: '5', name: 'asset 4', reason: 'url must be an http(s) URL' },
      { label: '5', name: 'image #3', reason: 'not an object' },
    ]);
    assert.match(warnings.join('\n'), /product b is listed more than once: its photos were merged/);
    assert.match(warnings.join('\n'), /product #4 ignored: productId must be a string/);
  });

  it('ignores empty ids and ids with control characters, and strips control characters from names', () => {
    const { manifest, rejected, warnings } = parseManifest({
      products: [
        { productId: 'nul\u0000id', productName: 'x', images: [image(1)] },
        { productId: '', productName: 'empty id', images: [image(3)] },
        {
          productId: 'p',
          productName: 'Milk\u0000\n 1 l',
          images: [image('a\u0000'), { ...image(2), filename: 'b\u0000.jpg' }],
        },
      ],
    });
    assert.deepEqual(
      manifest.products.map((p) => [p.productId, p.productName, p.images.map((i) => [i.assetId, i.filename])]),
      [['p', 'Milk 1 l', [['2', 'b.jpg']]]],
    );
    assert.match(warnings.join('\n'), /product #1 ignored: productId must not contain control characters/);
    assert.match(warnings.join('\n'), /product #2 ignored: productId should not be empty/);
    assert.deepEqual(rejected, [
      { label: 'p', name: 'asset a', reason: 'assetId must not contain control characters' },
    ]);
  });

  it('takes ids that look the same as the same product (Unicode NFC), and says so', () => {
    const { manifest, warnings } = parseManifest({
      products: [
        { productId: 'caf\u00e9', productName: 'Café', images: [image(1)] },
        { productId: 'cafe\u0301', productName: 'Café', images: [image(2)] },
      ],
    });
    assert.deepEqual(
      manifest.products.map((p) => [p.productId, p.images.length]),
      [['caf\u00e9', 2]],
    );
    assert.deepEqual(warnings, [
      'product caf\u00e9 is listed more than once (in two Unicode forms of the same text): its photos were merged',
    ]);
  });

  it('refuses more products than a model holds, saying what to do', () => {
    const products = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ productId: `p${i}`, productName: `P${i}`, images: [image(i)] }));
    assert.equal(parseManifest({ products: products(500) }).manifest.products.length, 500);
    assert.throws(
      () => parseManifest({ products: products(501) }),
      new DatasetError(
        'the manifest lists 501 products; a model holds at most 500: train the catalogue as several channels, ' +
          'or leave out the products sold by barcode',
      ),
    );
  });

  it('refuses a manifest without a products array', () => {
    assert.throws(() => parseManifest({ products: 'none' }), new DatasetError('manifest has no "products" array'));
    assert.throws(() => parseManifest([]), /not a JSON object/);
  });
});
