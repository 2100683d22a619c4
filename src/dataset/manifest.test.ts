/** Unit tests of manifest validation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatasetError, SCANS_OF_NONE } from './dataset.types';
import { MAX_IMAGES, MAX_SCANS_PER_PRODUCT, parseManifest } from './manifest';

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

/** A till scan as the backend sends it; `takenAt` only when given. */
const scan = (assetId: string | number, productId: unknown, takenAt?: unknown) => ({
  assetId,
  url: `https://till.example/${assetId}.jpg`,
  productId,
  ...(takenAt === undefined ? {} : { takenAt }),
});

/** Two products, p and q, with one photo each. */
const twoProducts = [
  { productId: 'p', productName: 'P', images: [image('p1')] },
  { productId: 'q', productName: 'Q', images: [image('q1')] },
];

describe('manifest scans', () => {
  it('reads the scans: numeric ids as strings, null as none of the products, NFC productIds, no takenAt as null', () => {
    const { manifest, rejected, warnings } = parseManifest({
      products: [
        { productId: 5, productName: 'Milk', images: [image(1)] },
        { productId: 'caf\u00e9', productName: 'Café', images: [image(2)] },
      ],
      scans: [
        { ...scan(10, 5, '2024-05-01T10:00:00Z'), filename: 'till\u0000-10.jpg' },
        scan('s2', null, '2024-05-02T10:00:00Z'),
        scan('s3', 'cafe\u0301'),
        scan('s4', '5', '2024-05-01T09:00:00.000+00:00'),
      ],
    });
    assert.deepEqual(manifest.scans, [
      {
        assetId: 's2',
        url: 'https://till.example/s2.jpg',
        filename: undefined,
        productId: null,
        takenAt: '2024-05-02T10:00:00Z',
      },
      {
        assetId: '10',
        url: 'https://till.example/10.jpg',
        filename: 'till-10.jpg',
        productId: '5',
        takenAt: '2024-05-01T10:00:00Z',
      },
      {
        assetId: 's4',
        url: 'https://till.example/s4.jpg',
        filename: undefined,
        productId: '5',
        takenAt: '2024-05-01T09:00:00.000+00:00',
      },
      { assetId: 's3', url: 'https://till.example/s3.jpg', filename: undefined, productId: 'caf\u00e9', takenAt: null },
    ]);
    assert.deepEqual(rejected, []);
    assert.deepEqual(warnings, []);
  });

  it('has no scans when the manifest has none, and warns when "scans" is not an array', () => {
    for (const scans of [undefined, null]) {
      const parsed = parseManifest({ products: twoProducts, ...(scans === undefined ? {} : { scans }) });
      assert.deepEqual(parsed.manifest.scans, [], String(scans));
      assert.deepEqual(parsed.warnings, [], String(scans));
      assert.deepEqual(parsed.rejected, [], String(scans));
    }
    assert.deepEqual(parseManifest({ products: twoProducts, scans: [] }).manifest.scans, []);
    for (const scans of [{ 0: scan('a', 'p') }, 'scans', 3, true]) {
      const parsed = parseManifest({ products: twoProducts, scans });
      assert.deepEqual(parsed.manifest.scans, [], JSON.stringify(scans));
      assert.deepEqual(parsed.warnings, ['"scans" is not an array: no scan was used'], JSON.stringify(scans));
      assert.deepEqual(parsed.rejected, [], JSON.stringify(scans));
    }
  });

  it('orders the scans newest first by the instant of takenAt; equal times and no takenAt in the manifest order', () => {
    const { manifest, warnings } = parseManifest({
      products: twoProducts,
      scans: [
        scan('none1', 'p'),
        scan('tenUtc', 'q', '2024-05-01T12:00:00+02:00'),
        scan('elevenUtc', 'p', '2024-05-01T11:00:00Z'),
        scan('none2', null),
        scan('tenUtcToo', null, '2024-05-01T10:00:00.000Z'),
        scan('day', 'p', '2024-06-01'),
        scan('old', 'q', '2023-12-31T23:59:59Z'),
        scan('none3', 'q', null),
      ],
    });
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      ['day', 'elevenUtc', 'tenUtc', 'tenUtcToo', 'old', 'none1', 'none2', 'none3'],
    );
    assert.deepEqual(
      manifest.scans.map((s) => s.takenAt),
      [
        '2024-06-01',
        '2024-05-01T11:00:00Z',
        '2024-05-01T12:00:00+02:00',
        '2024-05-01T10:00:00.000Z',
        '2023-12-31T23:59:59Z',
        null,
        null,
        null,
      ],
    );
    assert.deepEqual(warnings, []);
  });

  it('keeps the newest MAX_SCANS_PER_PRODUCT × products scans, and says how many of how many', () => {
    const limit = MAX_SCANS_PER_PRODUCT * twoProducts.length;
    // limit + 5 scans: three without takenAt (the oldest), the rest a minute apart, listed oldest first.
    const dated = Array.from({ length: limit + 2 }, (_, i) =>
      scan(`t${i}`, i % 3 === 0 ? null : i % 3 === 1 ? 'p' : 'q', new Date(Date.UTC(2024, 4, 1, 8, i)).toISOString()),
    );
    const undated = [scan('u0', 'p'), scan('u1', null), scan('u2', 'q')];
    const { manifest, warnings } = parseManifest({
      products: twoProducts,
      scans: [undated[0], ...dated.slice(0, 10), undated[1], ...dated.slice(10), undated[2]],
    });
    assert.equal(limit, 20);
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      Array.from({ length: limit }, (_, i) => `t${limit + 1 - i}`),
    );
    assert.deepEqual(warnings, [
      `kept the newest 20 of 25 scans (at most ${MAX_SCANS_PER_PRODUCT} a product on the mean)`,
    ]);

    const exactly = parseManifest({ products: twoProducts, scans: dated.slice(0, limit) });
    assert.equal(exactly.manifest.scans.length, limit);
    assert.deepEqual(exactly.warnings, []);
  });

  it('rejects invalid scans one by one, under their product or SCANS_OF_NONE', () => {
    const { manifest, rejected, warnings } = parseManifest({
      products: twoProducts,
      scans: [
        { assetId: 'file', url: 'file:///etc/passwd', productId: 'p' },
        scan('when', null, 'yesterday'),
        scan('feb30', 'q', '2024-02-30T10:00:00Z'),
        scan('number', 'p', 1714557600000),
        { assetId: 'missing', url: 'https://till.example/missing.jpg', takenAt: '2024-05-01T10:00:00Z' },
        'nonsense',
        null,
        { url: 'https://till.example/x.jpg', productId: 'q' },
        scan('ctl', 'p\u0000q'),
        scan('list', ['p']),
        scan('kept', 'p', '2024-05-01T10:00:00Z'),
        { ...scan('user', 'q'), url: 'ftp://till.example/user.jpg' },
      ],
    });
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      ['kept'],
    );
    assert.deepEqual(rejected, [
      { label: 'p', name: 'scan file', reason: 'url must be an http(s) URL' },
      { label: SCANS_OF_NONE, name: 'scan when', reason: 'takenAt must be an ISO 8601 date and time' },
      { label: 'q', name: 'scan feb30', reason: 'takenAt must be an ISO 8601 date and time' },
      { label: 'p', name: 'scan number', reason: 'takenAt must be an ISO 8601 date and time' },
      {
        label: SCANS_OF_NONE,
        name: 'scan missing',
        reason: 'productId is missing (null: confirmed as none of the products)',
      },
      { label: SCANS_OF_NONE, name: 'scan #6', reason: 'not an object' },
      { label: SCANS_OF_NONE, name: 'scan #7', reason: 'not an object' },
      { label: 'q', name: 'scan #8', reason: 'assetId must be a string' },
      { label: 'pq', name: 'scan ctl', reason: 'productId must not contain control characters' },
      { label: SCANS_OF_NONE, name: 'scan list', reason: 'productId must be a string' },
      { label: 'q', name: 'scan user', reason: 'url must be an http(s) URL' },
    ]);
    assert.deepEqual(warnings, []);
  });

  it('leaves out scans of products the manifest does not list, with one warning that counts them', () => {
    const { manifest, rejected, warnings } = parseManifest({
      products: [
        ...twoProducts,
        { productId: 'bad\u0000', images: [image(9)] },
        { productId: 'caf\u00e9', images: [] },
      ],
      scans: [
        scan('a', 'x', '2024-05-01T10:00:00Z'),
        scan('b', 'p', '2024-05-01T10:00:00Z'),
        scan('c', 'x'),
        scan('d', 7),
        scan('e', 'bad\u0000'),
        scan('f', 'cafe\u0301'),
        scan('g', 'y'),
      ],
    });
    assert.deepEqual(
      manifest.scans.map((s) => [s.assetId, s.productId]),
      [
        ['b', 'p'],
        ['f', 'caf\u00e9'],
      ],
    );
    assert.deepEqual(rejected, [
      { label: 'bad', name: 'scan e', reason: 'productId must not contain control characters' },
    ]);
    assert.deepEqual(warnings, [
      'product #3 ignored: productId must not contain control characters',
      '4 scan(s) left out: they name product(s) the manifest does not list (x, 7, y)',
    ]);
  });

  it('names at most five unlisted products in the warning', () => {
    const { manifest, warnings } = parseManifest({
      products: twoProducts,
      scans: [...Array.from({ length: 8 }, (_, i) => scan(i, `u${i}`)), scan('u0-again', 'u0'), scan('ok', 'q')],
    });
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      ['ok'],
    );
    assert.deepEqual(warnings, [
      '9 scan(s) left out: they name product(s) the manifest does not list (u0, u1, u2, u3, u4 and 3 more)',
    ]);
  });

  it('keeps only as many scans as the photos leave room for under MAX_IMAGES', () => {
    const photos = Array.from({ length: MAX_IMAGES - 3 }, (_, i) => image(i));
    const { manifest, warnings } = parseManifest({
      products: [
        { productId: 'p', images: photos },
        { productId: 'q', images: [] },
      ],
      scans: [
        scan('a', 'p', '2024-05-01T10:00:00Z'),
        scan('b', null),
        scan('c', 'q', '2024-05-01T12:00:00Z'),
        scan('d', 'p', '2024-05-01T11:00:00Z'),
        scan('e', 'q'),
      ],
    });
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      ['c', 'd', 'a'],
    );
    assert.deepEqual(warnings, [
      `kept the newest 3 of 5 scans (at most ${MAX_SCANS_PER_PRODUCT} a product on the mean)`,
    ]);
  });

  it('orders valid takenAt newest first beside an ISO 8601 form Date.parse does not read (counted as oldest)', () => {
    const { manifest } = parseManifest({
      products: twoProducts,
      scans: [
        scan('ten', 'p', '2024-05-01T10:00:00Z'),
        scan('week', 'p', '2024-W20-1'),
        scan('noon', 'q', '2024-05-01T12:00:00Z'),
      ],
    });
    assert.deepEqual(
      manifest.scans.map((s) => s.assetId),
      ['noon', 'ten', 'week'],
    );
  });
});
