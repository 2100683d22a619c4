/** Photo preprocessing as the browser does it (sharp): orientation, centre crop to 224, colour, and the crop views. */
import sharp from 'sharp';
import { TrainerError } from '../common/errors';
import { IMAGE_SIZE } from '../config/model-shape';

/** Files bigger than this are refused before decoding. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Images with more pixels than this are refused before decoding (decompression bombs). */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Bumped whenever the pixels fed to the model change: it is part of every embedding cache key. */
export const PREPROCESS_VERSION = 1;

/** Formats we accept; anything else (SVG, PDF, raw pixel dumps, …) is refused even if sharp could read it. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff']);

/** Bytes enough to tell an accepted format by the signature a file starts with. */
export const SIGNATURE_BYTES = 12;
/** ISO base media brands of HEIF and AVIF files (sharp reads both as heif). */
const HEIF_BRANDS = new Set([
  'heic',
  'heix',
  'hevc',
  'hevx',
  'heim',
  'heis',
  'hevm',
  'hevs',
  'mif1',
  'msf1',
  'avif',
  'avis',
]);

/**
 * The accepted format a file's first bytes (`head`, up to SIGNATURE_BYTES) announce, or null: what a download checks
 * as it arrives, so that a non-image is refused at its first bytes (the decoder still checks the whole file).
 */
export function formatBySignature(head: Uint8Array): string | null {
  const text = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (text(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (text(0, 4) === 'RIFF' && text(8, 12) === 'WEBP') return 'webp';
  if (text(0, 6) === 'GIF87a' || text(0, 6) === 'GIF89a') return 'gif';
  if (text(0, 4) === 'II*\0' || text(0, 4) === 'MM\0*') return 'tiff';
  if (text(4, 8) === 'ftyp' && HEIF_BRANDS.has(text(8, 12))) return 'heif';
  return null;
}

/**
 * A view is one square crop of the photo, scaled to the model's 224×224 input. `centre` is exactly what Teachable
 * Machine does in the browser; the others are training-time augmentations, each costing one pass through the base
 * model.
 */
export interface ViewSpec {
  /** Side of the square crop as a fraction of the photo's short side (1 = Teachable Machine's centre square). */
  crop: number;
  /** Where the crop sits: 0 = left/top edge, 0.5 = centred, 1 = right/bottom edge. */
  x: number;
  y: number;
  /** Mirrored left to right (a product seen from its other side, or a shelf photo taken the other way round). */
  mirror?: boolean;
}

export const VIEW_SPECS = {
  centre: { crop: 1, x: 0.5, y: 0.5 },
  // Tight crops (half the short side) at the centre and towards the four corners: training-time augmentations.
  zoom50: { crop: 0.5, x: 0.5, y: 0.5 },
  zoom50tl: { crop: 0.5, x: 0.2, y: 0.2 },
  zoom50tr: { crop: 0.5, x: 0.8, y: 0.2 },
  zoom50bl: { crop: 0.5, x: 0.2, y: 0.8 },
  zoom50br: { crop: 0.5, x: 0.8, y: 0.8 },
  // Mirrored and looser (three quarters of the short side) views: what outlier exposure trains the negatives on.
  mirror: { crop: 1, x: 0.5, y: 0.5, mirror: true },
  zoom75: { crop: 0.75, x: 0.5, y: 0.5 },
  zoom75mirror: { crop: 0.75, x: 0.5, y: 0.5, mirror: true },
} satisfies Record<string, ViewSpec>;
export type View = keyof typeof VIEW_SPECS;

/** Why an image could not be used; the message is meant for the person who uploaded it. */
export class ImageRejectedError extends TrainerError {}

export interface PreprocessedImage {
  /** 224·224·3 floats, row-major HWC, in Teachable Machine's range: x / 127 − 1. */
  pixels: Float32Array;
  /** Size of the decoded photo after EXIF orientation, before cropping. */
  sourceWidth: number;
  sourceHeight: number;
}

/**
 * Decodes a photo and turns it into the base model's input exactly as `@teachablemachine/image` does in the browser:
 * EXIF orientation applied, short side scaled to 224 ("cover"), centre crop 224×224, sRGB, then x / 127 − 1.
 * Fully transparent pixels become black, as they do on the browser's canvas.
 */
export async function preprocessImage(bytes: Uint8Array, view: View = 'centre'): Promise<PreprocessedImage> {
  return (await preprocessViews(bytes, [view]))[0];
}

/** preprocessImage for several views of one photo, which is checked once. */
export async function preprocessViews(bytes: Uint8Array, views: readonly View[]): Promise<PreprocessedImage[]> {
  const { sourceWidth, sourceHeight, hasAlpha } = await checkImage(bytes);
  return Promise.all(
    views.map(async (view) => {
      // Each view decodes the file again: measured cheaper than cutting all views from one decoded copy, as
      // libvips' per-pipeline cost outweighs a small JPEG decode, and big JPEGs decode at reduced size
      // (shrink-on-load).
      const pipeline = cutView(sharp(bytes, SHARP_OPTIONS).autoOrient(), sourceWidth, sourceHeight, VIEW_SPECS[view]);
      try {
        return { pixels: await toModelInput(pipeline, hasAlpha), sourceWidth, sourceHeight };
      } catch (err) {
        throw new ImageRejectedError(`image could not be decoded (${describeSharpError(err)})`);
      }
    }),
  );
}

/** A photo's pixels at full size: EXIF orientation applied, sRGB, 3 channels (RGB), row-major. */
export interface DecodedImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Decodes a whole photo, with the same checks as preprocessImage (for clients that resize it themselves). */
export async function decodeImage(bytes: Uint8Array): Promise<DecodedImage> {
  await checkImage(bytes);
  try {
    const { data, info } = await sharp(bytes, SHARP_OPTIONS)
      .autoOrient()
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { rgb: data, width: info.width, height: info.height };
  } catch (err) {
    throw new ImageRejectedError(`image could not be decoded (${describeSharpError(err)})`);
  }
}

/**
 * Text a PNG may carry in its tEXt, zTXt and iTXt chunks: the decoder holds all of it (24 photos with 19 MB each took
 * 2.8 GB); a phone photo carries a few kB (XMP included).
 */
export const MAX_PNG_TEXT_BYTES = 1024 * 1024;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_TEXT_CHUNKS = new Set(['tEXt', 'zTXt', 'iTXt']);

/** Bytes of text chunks in a PNG (0 for anything else), read from the chunk headers without decoding. */
export function pngTextBytes(bytes: Uint8Array): number {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.length < 8 || !data.subarray(0, 8).equals(PNG_SIGNATURE)) return 0;
  let total = 0;
  for (let at = 8; at + 8 <= data.length;) {
    const length = data.readUInt32BE(at);
    const type = data.toString('latin1', at + 4, at + 8);
    if (PNG_TEXT_CHUNKS.has(type)) total += length;
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return total;
}

const SHARP_OPTIONS: sharp.SharpOptions = { limitInputPixels: MAX_IMAGE_PIXELS, pages: 1, failOn: 'error' };

/**
 * Refuses what must not be decoded (too big, not an accepted format); returns the size after EXIF orientation and
 * whether the image has an alpha channel.
 */
async function checkImage(
  bytes: Uint8Array,
): Promise<{ sourceWidth: number; sourceHeight: number; hasAlpha: boolean }> {
  if (bytes.byteLength === 0) throw new ImageRejectedError('empty file');
  if (bytes.byteLength > MAX_IMAGE_BYTES) {
    throw new ImageRejectedError(`file is ${bytes.byteLength} bytes, over the ${MAX_IMAGE_BYTES}-byte limit`);
  }
  const text = pngTextBytes(bytes);
  if (text > MAX_PNG_TEXT_BYTES)
    throw new ImageRejectedError(
      `PNG with ${text} bytes of text metadata, over the ${MAX_PNG_TEXT_BYTES}-byte limit (the decoder would hold it)`,
    );
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(bytes, SHARP_OPTIONS).metadata();
  } catch (err) {
    throw new ImageRejectedError(`not a readable image (${describeSharpError(err)})`);
  }
  if (!metadata.format || !ACCEPTED_FORMATS.has(metadata.format)) {
    throw new ImageRejectedError(`unsupported image format "${metadata.format ?? 'unknown'}"`);
  }
  if ((metadata.width ?? 0) * (metadata.height ?? 0) > MAX_IMAGE_PIXELS) {
    throw new ImageRejectedError(
      `image is ${metadata.width}×${metadata.height}, over the ${MAX_IMAGE_PIXELS / 1e6}-megapixel limit`,
    );
  }
  // EXIF orientations 5–8 swap width and height.
  const swapped = (metadata.orientation ?? 1) >= 5;
  return {
    sourceWidth: (swapped ? metadata.height : metadata.width) ?? 0,
    sourceHeight: (swapped ? metadata.width : metadata.height) ?? 0,
    hasAlpha: metadata.hasAlpha ?? true,
  };
}

/** Crops a view out of an (oriented) width×height image and scales it to 224×224. */
function cutView(pipeline: sharp.Sharp, width: number, height: number, spec: ViewSpec): sharp.Sharp {
  if (spec.crop < 1) {
    const side = Math.max(1, Math.round(Math.min(width, height) * spec.crop));
    // extract() before resize() crops before scaling.
    pipeline = pipeline.extract({
      left: Math.floor((width - side) * spec.x),
      top: Math.floor((height - side) * spec.y),
      width: side,
      height: side,
    });
  }
  pipeline = pipeline.resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'cover', position: 'centre' });
  return spec.mirror ? pipeline.flop() : pipeline;
}

/** The pipeline's pixels as model input; only an image with an alpha channel needs it read (to blacken). */
async function toModelInput(pipeline: sharp.Sharp, hasAlpha: boolean): Promise<Float32Array> {
  const srgb = pipeline.toColourspace('srgb');
  const { data } = await (hasAlpha ? srgb.ensureAlpha() : srgb.removeAlpha())
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return hasAlpha ? rgbaToModelInput(data) : rgbToModelInput(data);
}

/** RGB bytes → floats in [-1, 1.008]. */
function rgbToModelInput(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = rgb[i] / 127 - 1;
  return out;
}

/** RGBA bytes → RGB floats in [-1, 1.008]; alpha 0 → black, as the browser's canvas gives it. */
export function rgbaToModelInput(rgba: Uint8Array): Float32Array {
  const pixelCount = rgba.length / 4;
  const out = new Float32Array(pixelCount * 3);
  for (let p = 0; p < pixelCount; p++) {
    const transparent = rgba[p * 4 + 3] === 0;
    for (let c = 0; c < 3; c++) {
      out[p * 3 + c] = (transparent ? 0 : rgba[p * 4 + c]) / 127 - 1;
    }
  }
  return out;
}

function describeSharpError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].replace(/^Input (buffer|file) /, '');
}

/** Encodes raw 8-bit RGB pixels as PNG (for images the code makes itself, e.g. the engine check's probes). */
export async function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp(rgb, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

/** The report's thumbnail sizes (pixels) and JPEG qualities, largest first: about 2.8, 1.3, 0.8 and 0.5 kB a photo. */
const THUMBNAIL_STEPS = [
  { size: 96, quality: 70 },
  { size: 64, quality: 60 },
  { size: 48, quality: 50 },
  { size: 32, quality: 40 },
];

/**
 * A square JPEG of the photo's centre: the largest of THUMBNAIL_STEPS within `maxBytes`, or null when none is
 * (a report of many products has little room for each). The photo is decoded once.
 */
export async function thumbnailJpeg(bytes: Uint8Array, maxBytes = Infinity): Promise<Uint8Array | null> {
  const largest = THUMBNAIL_STEPS[0].size;
  const { data, info } = await sharp(bytes, SHARP_OPTIONS)
    .autoOrient()
    .resize(largest, largest, { fit: 'cover' })
    .flatten({ background: '#ffffff' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  for (const { size, quality } of THUMBNAIL_STEPS) {
    const jpeg = await sharp(data, { raw }).resize(size, size).jpeg({ quality }).toBuffer();
    if (jpeg.length <= maxBytes) return new Uint8Array(jpeg);
  }
  return null;
}

/** How many threads libvips may use for one image. */
export function limitDecoderThreads(threads: number): void {
  sharp.concurrency(threads);
}
