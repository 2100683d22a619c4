/** The backend's manifest (products and photo URLs): validated, with hostile input bounded. */
import { plainToInstance, Transform } from 'class-transformer';
import { IsISO8601, IsNotEmpty, IsOptional, IsString, IsUrl, MaxLength, validateSync } from 'class-validator';
import {
  HTTP_URL_OPTIONS,
  NoControlCharacters,
  stripControlCharacters,
  withoutControlCharacters,
} from '../common/validation';
import { DatasetError, SCANS_OF_NONE } from './dataset.types';

const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 1024;
const MAX_URL_LENGTH = 4096;
/** Upper bounds that keep a hostile manifest from exhausting memory or disk. */
/**
 * Products one model holds at most: its metadata (the cross-validation's confusion matrix) and the report grow with
 * the square of the count (5,000 products made a 275 MB metadata.json); real shops have 20 to 40.
 */
export const MAX_PRODUCTS = 500;
/** Photos and the till's confirmed scans together. */
export const MAX_IMAGES = 50_000;
/**
 * The till's confirmed scans a model learns from, per product on the mean: the newest are kept. The benchmark
 * measured up to 10 a product (docs/accuracy.md); each scan adds a training row, as a photo does.
 */
export const MAX_SCANS_PER_PRODUCT = 10;

const idToString = ({ value }: { value: unknown }) => (typeof value === 'number' ? String(value) : value);

/** One photo of a product, as the backend's `mlTrainingManifest` query returns it. */
export class ManifestImageDto {
  @Transform(idToString)
  @NoControlCharacters()
  @MaxLength(MAX_ID_LENGTH)
  @IsNotEmpty()
  @IsString()
  assetId!: string;

  @MaxLength(MAX_URL_LENGTH)
  @IsUrl(HTTP_URL_OPTIONS, { message: 'url must be an http(s) URL' })
  @IsString()
  url!: string;

  /** Reported only; never used as a path. */
  @Transform(withoutControlCharacters)
  @IsOptional()
  @MaxLength(MAX_NAME_LENGTH)
  @IsString()
  filename?: string;
}

/** A scan the till's cashier confirmed: the product scanned by barcode after the model was not sure, or none. */
export class ManifestScanDto extends ManifestImageDto {
  /** null: confirmed as none of the model's products (checked apart: the key must be there). */
  @Transform(idToString)
  @NoControlCharacters()
  @MaxLength(MAX_ID_LENGTH)
  @IsNotEmpty()
  @IsString()
  @IsOptional()
  productId!: string | null;

  /** When the till took it (ISO 8601): the newest scans are kept. */
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'takenAt must be an ISO 8601 date and time' })
  takenAt?: string | null;
}

export class ManifestProductDto {
  @Transform(idToString)
  @NoControlCharacters()
  @MaxLength(MAX_ID_LENGTH)
  @IsNotEmpty()
  @IsString()
  productId!: string;

  @Transform(withoutControlCharacters)
  @IsOptional()
  @MaxLength(MAX_NAME_LENGTH)
  @IsString()
  productName?: string;

  images!: unknown;
}

export interface ManifestProduct {
  productId: string;
  productName: string;
  images: ManifestImageDto[];
}

export interface ManifestScan {
  assetId: string;
  url: string;
  filename?: string;
  /** A product the manifest lists, or null: confirmed as none of them. */
  productId: string | null;
  takenAt: string | null;
}

export interface Manifest {
  channelId: string | null;
  version: string | null;
  extractedAt: string | null;
  products: ManifestProduct[];
  /** The till's confirmed scans kept, newest first (absent from the manifest: none). */
  scans: ManifestScan[];
}

export interface ParsedManifest {
  manifest: Manifest;
  /** Images or products left out, with the reason (reported, not fatal). */
  rejected: { label: string; name: string; reason: string }[];
  warnings: string[];
}

/**
 * Validates the backend's manifest. Bad entries are dropped and reported one by one; a manifest whose shape is
 * wrong as a whole is refused with a message saying what is wrong. Duplicate productIds are merged.
 */
export function parseManifest(input: unknown): ParsedManifest {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw new DatasetError('manifest is not a JSON object');
  const raw = input as Record<string, unknown>;
  if (!Array.isArray(raw.products)) throw new DatasetError('manifest has no "products" array');
  if (raw.products.length > MAX_PRODUCTS) {
    throw new DatasetError(
      `the manifest lists ${raw.products.length} products; a model holds at most ${MAX_PRODUCTS}: ` +
        `train the catalogue as several channels, or leave out the products sold by barcode`,
    );
  }
  const rejected: ParsedManifest['rejected'] = [];
  const warnings: string[] = [];
  const byId = new Map<string, ManifestProduct>();
  /** How each id was first spelled in the manifest. */
  const spelled = new Map<string, string>();
  let imageCount = 0;
  raw.products.forEach((entry, index) => {
    const product = plainToInstance(ManifestProductDto, entry ?? {});
    const problems = typeof entry === 'object' && entry !== null ? validationMessages(product) : ['not an object'];
    if (problems.length) {
      warnings.push(`product #${index + 1} ignored: ${problems.join('; ')}`);
      return;
    }
    // Ids that look the same are the same: "café" in its two Unicode forms is one product.
    const productId = product.productId.normalize('NFC');
    let merged = byId.get(productId);
    if (merged) {
      const sameText = spelled.get(productId) === product.productId;
      warnings.push(
        `product ${productId} is listed more than once${sameText ? '' : ' (in two Unicode forms of the same text)'}: ` +
          `its photos were merged`,
      );
    } else {
      merged = { productId, productName: product.productName || productId, images: [] };
      byId.set(productId, merged);
      spelled.set(productId, product.productId);
    }
    const images = Array.isArray(product.images) ? product.images : [];
    if (!Array.isArray(product.images)) warnings.push(`product ${product.productId} has no "images" array`);
    for (const [i, imageEntry] of images.entries()) {
      const image = plainToInstance(ManifestImageDto, imageEntry ?? {});
      const imageProblems =
        typeof imageEntry === 'object' && imageEntry !== null ? validationMessages(image) : ['not an object'];
      // Reported in the job record, which cannot hold every character an invalid id may carry.
      const name = image.assetId
        ? `asset ${stripControlCharacters(String(image.assetId)).slice(0, MAX_ID_LENGTH)}`
        : `image #${i + 1}`;
      if (imageProblems.length) {
        rejected.push({ label: merged.productId, name, reason: imageProblems.join('; ') });
      } else if (++imageCount > MAX_IMAGES) {
        rejected.push({ label: merged.productId, name, reason: `over the limit of ${MAX_IMAGES} images per manifest` });
      } else {
        merged.images.push(image);
      }
    }
  });
  const scans = parseScans(raw.scans, byId, MAX_IMAGES - Math.min(imageCount, MAX_IMAGES), rejected, warnings);
  return {
    manifest: {
      channelId: optionalString(raw.channelId),
      version: optionalString(raw.version),
      extractedAt: optionalString(raw.extractedAt),
      products: [...byId.values()],
      scans,
    },
    rejected,
    warnings,
  };
}

/**
 * The manifest's `scans`: invalid entries are rejected one by one, scans of products the manifest does not list are
 * left out with one warning, and the newest MAX_SCANS_PER_PRODUCT × products are kept (those without takenAt count
 * as oldest, in the manifest's order), within what MAX_IMAGES leaves.
 */
function parseScans(
  input: unknown,
  products: Map<string, ManifestProduct>,
  room: number,
  rejected: ParsedManifest['rejected'],
  warnings: string[],
): ManifestScan[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) {
    warnings.push('"scans" is not an array: no scan was used');
    return [];
  }
  const valid: ManifestScan[] = [];
  const unlisted = new Set<string>();
  let unlistedScans = 0;
  input.forEach((entry, i) => {
    const scan = plainToInstance(ManifestScanDto, entry ?? {});
    const problems =
      typeof entry !== 'object' || entry === null
        ? ['not an object']
        : !('productId' in entry)
          ? ['productId is missing (null: confirmed as none of the products)']
          : validationMessages(scan);
    const name = scan.assetId
      ? `scan ${stripControlCharacters(String(scan.assetId)).slice(0, MAX_ID_LENGTH)}`
      : `scan #${i + 1}`;
    if (problems.length) {
      const label = typeof scan.productId === 'string' ? scan.productId.slice(0, MAX_ID_LENGTH) : SCANS_OF_NONE;
      rejected.push({ label: stripControlCharacters(label), name, reason: problems.join('; ') });
      return;
    }
    const productId = scan.productId === null ? null : scan.productId.normalize('NFC');
    if (productId !== null && !products.has(productId)) {
      unlistedScans++;
      unlisted.add(productId);
      return;
    }
    valid.push({
      assetId: scan.assetId,
      url: scan.url,
      filename: scan.filename,
      productId,
      takenAt: scan.takenAt ?? null,
    });
  });
  if (unlistedScans) {
    const ids = [...unlisted];
    warnings.push(
      `${unlistedScans} scan(s) left out: they name product(s) the manifest does not list ` +
        `(${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''})`,
    );
  }
  const { kept, dropped } = newestScans(
    valid,
    (s) => (s.takenAt ? Date.parse(s.takenAt) : -Infinity),
    products.size,
    room,
  );
  if (dropped) warnings.push(keptNewestWarning(kept.length, kept.length + dropped));
  return kept;
}

/**
 * The newest of the till's scans, at most MAX_SCANS_PER_PRODUCT × `products` (and `room`): newest first by `timeOf`
 * (-Infinity: unknown, oldest), in their order when equal.
 */
export function newestScans<T>(
  scans: T[],
  timeOf: (scan: T) => number,
  products: number,
  room = Infinity,
): { kept: T[]; dropped: number } {
  const limit = Math.min(MAX_SCANS_PER_PRODUCT * products, room);
  const newest = scans
    .map((scan, i) => ({ scan, i, time: timeOf(scan) }))
    // A time that cannot be read (an ISO week date, say) counts as unknown.
    .map((s) => (Number.isNaN(s.time) ? { ...s, time: -Infinity } : s))
    .sort((a, b) => b.time - a.time || a.i - b.i)
    .map((s) => s.scan);
  return { kept: newest.slice(0, limit), dropped: Math.max(0, newest.length - limit) };
}

export function keptNewestWarning(kept: number, all: number): string {
  return `kept the newest ${kept} of ${all} scans (at most ${MAX_SCANS_PER_PRODUCT} a product on the mean)`;
}
/** One message per bad field (class-validator checks the decorator nearest the field first). */
function validationMessages(target: object): string[] {
  return validateSync(target, { stopAtFirstError: true }).flatMap((e) => Object.values(e.constraints ?? {}));
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? String(value).slice(0, MAX_NAME_LENGTH) : null;
}
