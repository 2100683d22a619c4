/** The backend's manifest (products and photo URLs): validated, with hostile input bounded. */
import { plainToInstance, Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, IsUrl, MaxLength, validateSync } from 'class-validator';
import {
  HTTP_URL_OPTIONS,
  NoControlCharacters,
  stripControlCharacters,
  withoutControlCharacters,
} from '../common/validation';
import { DatasetError } from './dataset.types';

const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 1024;
const MAX_URL_LENGTH = 4096;
/** Upper bounds that keep a hostile manifest from exhausting memory or disk. */
/**
 * Products one model holds at most: its metadata (the cross-validation's confusion matrix) and the report grow with
 * the square of the count (5,000 products made a 275 MB metadata.json); real shops have 20 to 40.
 */
export const MAX_PRODUCTS = 500;
export const MAX_IMAGES = 50_000;

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

export interface Manifest {
  channelId: string | null;
  version: string | null;
  extractedAt: string | null;
  products: ManifestProduct[];
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
  return {
    manifest: {
      channelId: optionalString(raw.channelId),
      version: optionalString(raw.version),
      extractedAt: optionalString(raw.extractedAt),
      products: [...byId.values()],
    },
    rejected,
    warnings,
  };
}

/** One message per bad field (class-validator checks the decorator nearest the field first). */
function validationMessages(target: object): string[] {
  return validateSync(target, { stopAtFirstError: true }).flatMap((e) => Object.values(e.constraints ?? {}));
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? String(value).slice(0, MAX_NAME_LENGTH) : null;
}
