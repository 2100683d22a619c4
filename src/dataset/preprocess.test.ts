/** Unit tests of photo preprocessing against the browser's. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { modelValue, pixelAt, pngDeclaring, pngWithText, rawToSharp, twoColourRaw } from '../../test/support/images';
import { productLook, renderPhoto, scene } from '../../test/support/rendered-photos';
import { formatBySignature, ImageRejectedError, pngTextBytes, preprocessImage, SIGNATURE_BYTES } from './preprocess';
import { IMAGE_SIZE } from '../config/model-shape';

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];

function assertClose(actual: number[], expected: number[], tolerance: number, what: string): void {
  actual.forEach((v, i) =>
    assert.ok(
      Math.abs(v - expected[i]) <= tolerance,
      `${what}: got [${actual.map((a) => a.toFixed(3))}], expected [${expected.map((e) => e.toFixed(3))}]`,
    ),
  );
}

const rgb = (bytes: number[]) => bytes.map(modelValue);

describe('preprocessImage', () => {
  it('passes a 224×224 photo through untouched, as x / 127 − 1', async () => {
    const raw = Buffer.alloc(224 * 224 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 256;
    const { pixels } = await preprocessImage(await rawToSharp(raw, 224, 224).png().toBuffer());
    assert.equal(pixels.length, IMAGE_SIZE * IMAGE_SIZE * 3);
    for (const i of [0, 1, 2, 1000, 77777, raw.length - 1]) assert.equal(pixels[i], Math.fround(raw[i] / 127 - 1));
    assert.equal(Math.max(...pixels.subarray(0, 3000)), Math.fround(255 / 127 - 1));
  });

  it('scales the short side to 224 and keeps the centre square', async () => {
    // 448×224: left quarter red, the rest blue. The centre crop spans x = 112…336 of the original, i.e. all blue,
    // except that scaling is 1:1 on the short side so nothing of the red quarter (x < 112) is left.
    const raw = twoColourRaw(448, 224, 112, RED, BLUE);
    const { pixels, sourceWidth, sourceHeight } = await preprocessImage(
      await rawToSharp(raw, 448, 224).png().toBuffer(),
    );
    assert.deepEqual([sourceWidth, sourceHeight], [448, 224]);
    assertClose(pixelAt(pixels, 0, 100), rgb(BLUE), 1e-6, 'left edge of the crop');
    assertClose(pixelAt(pixels, 223, 100), rgb(BLUE), 1e-6, 'right edge of the crop');
    // 600×300, left half red: scaled to 448×224 and cropped at x = 112, so crop columns 0…111 are red.
    const half = twoColourRaw(600, 300, 300, RED, BLUE);
    const halfPixels = (await preprocessImage(await rawToSharp(half, 600, 300).png().toBuffer())).pixels;
    assertClose(pixelAt(halfPixels, 50, 112), rgb(RED), 1e-6, 'left half of the crop');
    assertClose(pixelAt(halfPixels, 170, 112), rgb(BLUE), 1e-6, 'right half of the crop');
  });

  it('applies the EXIF orientation before cropping', async () => {
    // Stored 300×224 with the left 100 columns red; orientation 6 (rotate 90° clockwise) puts them on top.
    const raw = twoColourRaw(300, 224, 100, RED, BLUE);
    const jpeg = await rawToSharp(raw, 300, 224).withMetadata({ orientation: 6 }).png().toBuffer();
    const { pixels, sourceWidth, sourceHeight } = await preprocessImage(jpeg);
    assert.deepEqual([sourceWidth, sourceHeight], [224, 300]);
    assertClose(pixelAt(pixels, 112, 5), rgb(RED), 1e-6, 'top of the rotated photo');
    assertClose(pixelAt(pixels, 112, 200), rgb(BLUE), 1e-6, 'bottom of the rotated photo');
  });

  it('cuts the training views as tight crops of the oriented photo', async () => {
    // 448×448 blue with a red 224×224 square in the middle: the centre view shows both, zoom50 only red.
    const raw = twoColourRaw(448, 448, 0, BLUE, BLUE);
    for (let y = 112; y < 336; y++) for (let x = 112; x < 336; x++) raw.set(RED, (y * 448 + x) * 3);
    const png = await rawToSharp(raw, 448, 448).png().toBuffer();
    const centre = (await preprocessImage(png, 'centre')).pixels;
    assertClose(pixelAt(centre, 5, 5), rgb(BLUE), 1e-6, 'centre view corner');
    const zoom = (await preprocessImage(png, 'zoom50')).pixels;
    for (const [x, y] of [
      [0, 0],
      [223, 223],
      [112, 112],
    ])
      assertClose(pixelAt(zoom, x, y), rgb(RED), 1e-6, `zoom50 at ${x},${y}`);
    // zoom50tl starts at 20% of the free margin (x = y = 44): its top-left corner is blue, its centre red.
    const topLeft = (await preprocessImage(png, 'zoom50tl')).pixels;
    assertClose(pixelAt(topLeft, 2, 2), rgb(BLUE), 1e-6, 'zoom50tl corner');
    assertClose(pixelAt(topLeft, 150, 150), rgb(RED), 1e-6, 'zoom50tl inside');
  });

  const ORANGE = [240, 120, 20];
  const solid = () => rawToSharp(twoColourRaw(320, 240, 0, ORANGE, ORANGE), 320, 240);
  const formats: [string, () => Promise<Buffer>, number[], number][] = [
    ['JPEG', () => solid().jpeg({ quality: 95 }).toBuffer(), ORANGE, 3],
    // Encoding through alpha, 16 bits or TIFF moves values by a rounding step or two.
    ['PNG with alpha', () => solid().ensureAlpha(0.5).png().toBuffer(), ORANGE, 2],
    ['palette PNG', () => solid().png({ palette: true }).toBuffer(), ORANGE, 3],
    ['16-bit PNG', () => solid().toColourspace('rgb16').png().toBuffer(), ORANGE, 2],
    ['CMYK JPEG', () => solid().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(), ORANGE, 40],
    ['WebP', () => solid().webp({ lossless: true }).toBuffer(), ORANGE, 0],
    ['GIF', () => solid().gif().toBuffer(), ORANGE, 6],
    ['AVIF', () => solid().avif({ lossless: true }).toBuffer(), ORANGE, 3],
    ['TIFF', () => solid().tiff().toBuffer(), ORANGE, 2],
  ];
  for (const [name, make, colour, tolerance] of formats) {
    it(`reads ${name} as 3-channel sRGB`, async () => {
      const { pixels } = await preprocessImage(await make());
      assert.equal(pixels.length, 224 * 224 * 3);
      assertClose(pixelAt(pixels, 112, 112), rgb(colour), (tolerance + 0.5) / 127, name);
    });
  }

  it('reads a greyscale JPEG as three equal channels', async () => {
    const grey = await solid().toColourspace('b-w').jpeg({ quality: 95 }).toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 1);
    const { data } = await sharp(grey).raw().toBuffer({ resolveWithObject: true });
    const { pixels } = await preprocessImage(grey);
    assertClose(pixelAt(pixels, 112, 112), rgb([data[0], data[0], data[0]]), 1.5 / 127, 'grey');
  });

  it('turns fully transparent pixels black, as the browser canvas does', async () => {
    const rgba = Buffer.alloc(224 * 224 * 4);
    for (let p = 0; p < 224 * 224; p++) rgba.set([200, 100, 50, p % 224 < 112 ? 0 : 255], p * 4);
    const { pixels } = await preprocessImage(await rawToSharp(rgba, 224, 224, 4).png().toBuffer());
    assertClose(pixelAt(pixels, 10, 10), rgb([0, 0, 0]), 1e-6, 'transparent');
    assertClose(pixelAt(pixels, 200, 10), rgb([200, 100, 50]), 1e-6, 'opaque');
  });

  it('takes the first frame of an animated GIF', async () => {
    const frames = Buffer.concat([twoColourRaw(64, 64, 64, RED, RED), twoColourRaw(64, 64, 64, BLUE, BLUE)]);
    const gif = await sharp(frames, { raw: { width: 64, height: 128, channels: 3, pageHeight: 64 } })
      .gif({ loop: 0 })
      .toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const { pixels } = await preprocessImage(gif);
    assertClose(pixelAt(pixels, 112, 20), rgb(RED), 6 / 127, 'first frame');
  });

  it('matches the same photo decoded twice (deterministic)', async () => {
    const bytes = await renderPhoto(productLook('Bright-Tea'), scene(0), 348);
    const [a, b] = await Promise.all([preprocessImage(bytes), preprocessImage(bytes)]);
    assert.deepEqual(a.pixels, b.pixels);
  });

  it('refuses a PNG carrying more text metadata than a photo does, without decoding it, and reads a normal one', async () => {
    const huge = await pngWithText(19 * 1024 * 1024);
    assert.equal(pngTextBytes(huge), 19 * 1024 * 1024 + 'Comment\0'.length);
    await assert.rejects(
      preprocessImage(huge),
      new ImageRejectedError(
        `PNG with ${19 * 1024 * 1024 + 8} bytes of text metadata, over the 1048576-byte limit (the decoder would hold it)`,
      ),
    );
    const small = await pngWithText(4000);
    assert.equal((await preprocessImage(small)).pixels.length, 224 * 224 * 3);
    assert.equal(pngTextBytes(Buffer.from('not a png at all')), 0);
  });

  const rejected: [string, () => Promise<Buffer> | Buffer, RegExp][] = [
    ['a zero-byte file', () => Buffer.alloc(0), /empty file/],
    ['a text file named .jpg', () => Buffer.from('this is not an image at all\n'), /not a readable image/],
    [
      'an SVG',
      () =>
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        ),
      /unsupported image format "svg"/,
    ],
    [
      'a truncated JPEG',
      async () => {
        const jpeg = await rawToSharp(twoColourRaw(300, 300, 150, RED, BLUE), 300, 300)
          .jpeg()
          .toBuffer();
        return jpeg.subarray(0, Math.floor(jpeg.length / 2));
      },
      /could not be decoded|not a readable image/,
    ],
    ['a PNG declaring 30000×30000 pixels', () => pngDeclaring(30000, 30000), /megapixel limit|pixel limit|exceeds/],
    ['a file over 20 MB', () => Buffer.alloc(20 * 1024 * 1024 + 1), /over the 20971520-byte limit/],
  ];
  for (const [name, make, reason] of rejected) {
    it(`rejects ${name} with a reason`, async () => {
      await assert.rejects(preprocessImage(await make()), (err: unknown) => {
        assert.ok(err instanceof ImageRejectedError, `expected ImageRejectedError, got ${err}`);
        assert.match(err.message, reason);
        return true;
      });
    });
  }
});

describe('formatBySignature', () => {
  it('tells every accepted format by its first bytes, as sharp encodes them, and nothing else', async () => {
    const pixels = sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a7' } });
    const encoded = {
      jpeg: await pixels.clone().jpeg().toBuffer(),
      png: await pixels.clone().png().toBuffer(),
      webp: await pixels.clone().webp().toBuffer(),
      gif: await pixels.clone().gif().toBuffer(),
      tiff: await pixels.clone().tiff().toBuffer(),
      heif: await pixels.clone().avif().toBuffer(),
    };
    for (const [format, bytes] of Object.entries(encoded))
      assert.equal(formatBySignature(bytes.subarray(0, SIGNATURE_BYTES)), format, format);
    for (const other of [
      Buffer.from('this is a text file, named .jpg'),
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      Buffer.from('%PDF-1.7\n'),
      Buffer.alloc(64),
      Buffer.alloc(0),
      encoded.jpeg.subarray(0, 2),
    ])
      assert.equal(formatBySignature(other.subarray(0, SIGNATURE_BYTES)), null, other.toString('latin1'));
  });
});
