/** The photos a training uses: read from a folder, or downloaded from a manifest's URLs. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { HttpService } from '@nestjs/axios';
import { AppConfig } from '../config/app-config';
import { downloadFailureKind, MetricsService } from '../metrics/metrics.service';
import { Injectable, Optional } from '@nestjs/common';
import { mapWithConcurrency } from '../common/concurrency';
import type { EgressPolicy } from '../common/egress';
import { DatasetError, type Dataset } from './dataset.types';
import { DEFAULT_DOWNLOAD_OPTIONS, DownloadError, downloadToFile } from './image-downloader';
import { readImageFolder } from './image-folder';
import { parseManifest, type Manifest } from './manifest';
import { manifestFailure, manifestLimits } from './manifest-limits';

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

  /** Reads a manifest JSON from a file path or an http(s) URL (the CLI's --manifest). */
  async readManifest(source: string): Promise<unknown> {
    let text: string;
    if (/^https?:\/\//i.test(source)) {
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
    const downloadOptions = {
      ...DEFAULT_DOWNLOAD_OPTIONS,
      timeoutMs: this.config.DOWNLOAD_TIMEOUT_SECONDS * 1000,
      cancel,
    };
    let done = 0;
    const outcomes = await mapWithConcurrency(jobs, DOWNLOAD_CONCURRENCY, async (job, index) => {
      const file = path.join(photosDir, String(index));
      cancel?.throwIfAborted();
      try {
        await downloadToFile(this.http.axiosRef, job.image.url, file, downloadOptions, policy);
        return { file, reason: '' };
      } catch (err) {
        if (err instanceof DownloadError) {
          this.metrics?.downloadFailures.inc({ reason: downloadFailureKind(err.reason) });
          return { file: undefined, reason: `download failed: ${err.reason}` };
        }
        throw err;
      } finally {
        onProgress?.(++done, jobs.length);
      }
    });
    outcomes.forEach((outcome, index) => {
      const { label, product, image } = jobs[index];
      const name = `asset ${image.assetId}`;
      if (outcome.file) dataset.images.push({ label, name, path: outcome.file });
      else dataset.skipped.push({ label: product.productId, name, reason: outcome.reason });
    });
    return dataset;
  }
}
