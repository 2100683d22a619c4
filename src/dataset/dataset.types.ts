/** What a dataset is (products, photos, skipped photos) and its errors. */
import { FinalError, TrainerError } from '../common/errors';

/** A product (class) of the model, in the order of the model's outputs. */
export interface DatasetLabel {
  /** What the model's metadata lists in `labels`: the productId, or the folder name. */
  id: string;
  /** Human name, reported in `labelNames`. */
  name: string;
}

/** A photo on local disk, ready to be decoded. */
export interface DatasetImage {
  /** Index into `Dataset.labels`. */
  label: number;
  /** How the photo is named in reports: its file name, or its manifest asset id and URL. */
  name: string;
  /** Local file holding the photo's bytes. */
  path: string;
}

/** A scan the till's cashier confirmed (by barcode), on local disk: a photo of real till conditions. */
export interface DatasetScan {
  /** Index into `Dataset.labels` of the product confirmed, or null: confirmed as none of them. */
  label: number | null;
  /** How the scan is named in reports. */
  name: string;
  path: string;
  /** When the till took it (ms since 1970; null: unknown). */
  takenAt: number | null;
}

/** How a scan confirmed as none of the products is listed among the skipped photos. */
export const SCANS_OF_NONE = '(none of the products)';

/** A photo that could not be used, and why: reported, never fatal. */
export interface SkippedImage {
  label: string;
  name: string;
  reason: string;
}

export interface Dataset {
  labels: DatasetLabel[];
  images: DatasetImage[];
  skipped: SkippedImage[];
  /** The till's confirmed scans, newest first (none: a first model, or a backend that does not send them). */
  scans?: DatasetScan[];
  /** Notes about the input itself (merged duplicate products, ignored entries). */
  warnings: string[];
}

/** The input is unusable as a whole (e.g. fewer than two products): the message says what to fix. */
export class DatasetError extends FinalError {}

/** The backend could not be reached for the manifest (network, 5xx): worth another attempt later. */
export class ManifestUnavailableError extends TrainerError {}
