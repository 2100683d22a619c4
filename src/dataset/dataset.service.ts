/** The photos a training uses: read from a folder, or downloaded from a manifest's URLs. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpService } from '@nestjs/axios';
import { AppConfig } from '../config/app-config';
import { downloadFailureKind, MetricsService } from '../metrics/metrics.service';
import { Injectable, Optional } from '@nestjs/common';
import { mapWithConcurrency } from '../common/concurrency';
import { isHttpUrl, type EgressPolicy } from '../common/egress';
import { DatasetError, SCANS_OF_NONE, type Dataset } from './dataset.types';
import { DEFAULT_DOWNLOAD_OPTIONS, DownloadError, downloadToFile } from './image-downloader';
import { readImageFolder } from './image-folder';
import { readScanFolders } from './scan-folders';
import { photoClass } from './public-dataset';
import { parseManifest, type Manifest } from './manifest';
import { manifestFailure, manifestLimits } from './manifest-limits';

const MB = 1024 * 1024;

/** The settings that bound what a set of downloads may bring in, in megabytes: a job's, the negative bank's. */
type DownloadLimitSetting = 'JOB_DOWNLOAD_MAX_MB' | 'BANK_DOWNLOAD_MAX_MB';

/** Photos are fetched this many at a time. */
export const DOWNLOAD_CONCURRENCY = 8;

export type DownloadProgress = (done: number, total: number) => void;

/** Getting the photos: from a local folder, or from a manifest whose photo URLs are downloaded. */
@Injectable()
export class DatasetService {
  constructor(
    private readonly http: HttpService,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  fromFolder(dir: string): Promise<Dataset> {
    return readImageFolder(dir);
  }

  /** Adds the till's confirmed scans from folders (see scan-folders.ts) to a dataset's, with their warnings. */
  async addScanFolders(dataset: Dataset, scansDir?: string, noneDir?: string): Promise<Dataset> {
    const { scans, warnings } = await readScanFolders(dataset.labels, scansDir, noneDir);
    return { ...dataset, scans: [...(dataset.scans ?? []), ...scans], warnings: [...dataset.warnings, ...warnings] };
  }

  /** Reads a manifest JSON from a file path or an http(s) URL (the CLI's --manifest). */
  async readManifest(source: string): Promise<unknown> {
    let text: string;
    if (isHttpUrl(source)) {
      let response: { status: number; data: string };
      try {
        response = await this.http.axiosRef.get<string>(source, {
          responseType: 'text',
          validateStatus: () => true,
          ...manifestLimits(this.config),
        });
      } catch (err) {
        throw manifestFailure(source, err, this.config);
      }
      if (response.status >= 400)
        throw new DatasetError(`manifest request to ${source} failed: HTTP ${response.status}`);
      text = response.data;
    } else {
      try {
        text = await fs.readFile(source, 'utf8');
      } catch (err) {
        throw new DatasetError(`cannot read the manifest ${source}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new DatasetError(`the manifest ${source} is not valid JSON`);
    }
  }

  /**
   * Validates a manifest and downloads its photos into `workDir/photos` (file names are indexes: nothing from the
   * manifest is ever used as a path). Photos that fail are skipped and reported. `cancel` stops the downloads.
   */
  async fromManifest(
    input: unknown,
    workDir: string,
    onProgress?: DownloadProgress,
    policy?: EgressPolicy,
    cancel?: AbortSignal,
  ): Promise<Dataset & { manifest: Manifest }> {
    const { manifest, rejected, warnings } = parseManifest(input);
    const dataset: Dataset & { manifest: Manifest } = {
      manifest,
      labels: [],
      images: [],
      skipped: [...rejected],
      warnings,
    };
    const photosDir = path.join(workDir, 'photos');
    await fs.mkdir(photosDir, { recursive: true });
    const jobs = manifest.products.flatMap((product, label) =>
      product.images.map((image) => ({ label, product, image })),
    );
    manifest.products.forEach((p) => dataset.labels.push({ id: p.productId, name: p.productName }));
    const labelOf = new Map(manifest.products.map((p, label) => [p.productId, label]));
    // Photos and scans in one download (their files numbered in that order), within the same limits.
    const outcomes = await this.downloadAll(
      [...jobs.map((job) => job.image.url), ...manifest.scans.map((scan) => scan.url)],
      photosDir,
      {
        policy,
        cancel,
        onProgress,
        limit: 'JOB_DOWNLOAD_MAX_MB',
      },
    );
    outcomes.slice(0, jobs.length).forEach((outcome, index) => {
      const { label, product, image } = jobs[index];
      const name = `asset ${image.assetId}`;
      if (outcome.file) dataset.images.push({ label, name, path: outcome.file });
      else dataset.skipped.push({ label: product.productId, name, reason: outcome.reason });
    });
    dataset.scans = [];
    outcomes.slice(jobs.length).forEach((outcome, index) => {
      const scan = manifest.scans[index];
      const name = `scan ${scan.assetId}`;
      const label = scan.productId === null ? null : labelOf.get(scan.productId)!;
      const takenAt = scan.takenAt === null ? NaN : Date.parse(scan.takenAt);
      if (outcome.file)
        dataset.scans!.push({ label, name, path: outcome.file, takenAt: Number.isNaN(takenAt) ? null : takenAt });
      else dataset.skipped.push({ label: scan.productId ?? SCANS_OF_NONE, name, reason: outcome.reason });
    });
    return dataset;
  }

  /**
   * Photos of a public dataset (the negative bank's) by their paths inside its folder, labelled by the folder each
   * sits in. `root` is the operator's setting (GROCERY_DATASET_URL), so no egress policy applies: an http(s) URL is
   * downloaded into `workDir/photos`, a local folder (or file:// URL) read in place. Photos that cannot be had are
   * skipped with the reason; a local folder that does not exist is an error.
   */
  async fromPublicDataset(
    root: string,
    photos: string[],
    workDir: string,
    options: {
      onProgress?: DownloadProgress;
      cancel?: AbortSignal;
      maxFailures?: number;
      limit?: DownloadLimitSetting;
    } = {},
  ): Promise<Dataset> {
    const dataset: Dataset = { labels: [], images: [], skipped: [], warnings: [] };
    const labelOf = (photo: string) => {
      const id = photoClass(photo);
      let label = dataset.labels.findIndex((l) => l.id === id);
      if (label < 0) label = dataset.labels.push({ id, name: id }) - 1;
      return label;
    };
    if (isHttpUrl(root)) {
      const base = root.endsWith('/') ? root : `${root}/`;
      const photosDir = path.join(workDir, 'photos');
      await fs.mkdir(photosDir, { recursive: true });
      const outcomes = await this.downloadAll(
        photos.map((p) => new URL(p, base).toString()),
        photosDir,
        options,
      );
      outcomes.forEach((outcome, i) => {
        const label = labelOf(photos[i]);
        if (outcome.file) dataset.images.push({ label, name: photos[i], path: outcome.file });
        else dataset.skipped.push({ label: dataset.labels[label].id, name: photos[i], reason: outcome.reason });
      });
      return dataset;
    }
    const dir = root.startsWith('file://') ? fileURLToPath(root) : path.resolve(root);
    if (!(await fs.stat(dir).catch(() => undefined))?.isDirectory())
      throw new DatasetError(`no folder at ${dir}: GROCERY_DATASET_URL must name the dataset's dataset/ folder or URL`);
    for (const photo of photos)
      dataset.images.push({ label: labelOf(photo), name: photo, path: path.join(dir, photo) });
    return dataset;
  }

  /**
   * Downloads `urls` into `dir` (file names are indexes), each URL once (a URL listed again shares the first's file
   * or reason), DOWNLOAD_CONCURRENCY at a time, each with the download limits and retries; a photo that cannot be
   * fetched gets its reason instead of a file. After `maxFailures` failures, or once the megabytes the setting
   * `limit` names were received, the rest are not tried (a host that is down would otherwise cost every photo its
   * timeouts; one that answers with junk would fill the disk).
   */
  private async downloadAll(
    urls: string[],
    dir: string,
    options: {
      policy?: EgressPolicy;
      onProgress?: DownloadProgress;
      cancel?: AbortSignal;
      maxFailures?: number;
      limit?: DownloadLimitSetting;
    },
  ): Promise<{ file?: string; reason: string }[]> {
    const { policy, onProgress, cancel, maxFailures = Infinity, limit } = options;
    const maxBytes = limit ? this.config[limit] * MB : Infinity;
    let failures = 0;
    let received = 0;
    const downloadOptions = {
      ...DEFAULT_DOWNLOAD_OPTIONS,
      timeoutMs: this.config.DOWNLOAD_TIMEOUT_SECONDS * 1000,
      cancel,
    };
    const unique = [...new Set(urls)];
    let done = 0;
    const outcomes = await mapWithConcurrency(unique, DOWNLOAD_CONCURRENCY, async (url, index) => {
      const file = path.join(dir, String(index));
      cancel?.throwIfAborted();
      const notFetched = (reason: string) => {
        onProgress?.(++done, unique.length);
        return { file: undefined, reason: `not fetched: ${reason}` };
      };
      if (failures >= maxFailures) return notFetched(`${failures} photos before it failed`);
      if (received >= maxBytes) return notFetched(`the downloads reached ${limit} (${maxBytes / MB} MB) before it`);
      try {
        // Not `received += await …`: that reads `received` before the download, losing the other lanes' bytes.
        const bytes = await downloadToFile(this.http.axiosRef, url, file, downloadOptions, policy);
        received += bytes;
        return { file, reason: '' };
      } catch (err) {
        if (err instanceof DownloadError) {
          this.metrics?.downloadFailures.inc({ reason: downloadFailureKind(err.reason) });
          failures++;
          return { file: undefined, reason: `download failed: ${err.reason}` };
        }
        throw err;
      } finally {
        onProgress?.(++done, unique.length);
      }
    });
    const outcomeOf = new Map(unique.map((url, i) => [url, outcomes[i]]));
    return urls.map((url) => outcomeOf.get(url)!);
  }
}
