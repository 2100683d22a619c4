/** The negative bank for a base model: read from MODEL_CACHE_DIR, or built there at first use from the dataset. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { TrainerError } from '../../common/errors';
import { cachedPromise } from '../../common/promise-cache';
import { removeStaleStaging, stagingPath } from '../../common/staging';
import { EMBEDDING_SIZE } from '../../config/model-shape';
import { AppConfig } from '../../config/app-config';
import { DatasetService } from '../../dataset/dataset.service';
import type { PhotoList } from '../../dataset/public-dataset';
import { EmbeddingService } from '../embedding.service';
import { embeddingRow, type BaseModelFiles } from '../ml';
import {
  loadBankDefinition,
  negativeBankOf,
  readNegativeBank,
  writeNegativeBank,
  type BankIdentity,
  type NegativeBank,
} from './negative-bank';

/** Receives the share of a bank's build done, from 0 to 1 (fetching its photos is the first half, embedding them the second). */
export type BankBuildProgress = (fraction: number) => void;

/** What a training gets: the bank, or why there is none (for the log and the CLI; it may name local paths). */
export type BankAvailability = { bank: NegativeBank; unavailable?: undefined } | { bank: null; unavailable: string };

/** A bank and the folder it is cached in. */
export interface CachedBank {
  bank: NegativeBank;
  dir: string;
}

/** Why the bank cannot be had; the message says what to do. */
export class NegativeBankError extends TrainerError {}

/** A bank that could not be built is tried again by the first training after this long (not by every one). */
export const BANK_RETRY_AFTER_MS = 10 * 60_000;
/** A training waits this long for a bank being built, then trains without it (the build goes on for the next). */
export const BANK_WAIT_MS = 120_000;
/** A bank missing more of its photos than this share is not built (a wrong folder or a host that is down). */
const MAX_MISSING_SHARE = 0.1;

@Injectable()
export class NegativeBankService {
  private readonly logger = new Logger(NegativeBankService.name);
  private readonly banks = new Map<string, Promise<CachedBank>>();
  private readonly failures = new Map<string, { at: number; reason: string }>();
  /** Per base model, who is told of its bank's build: every caller waiting for it, the first or a later one. */
  private readonly buildListeners = new Map<string, Set<BankBuildProgress>>();
  private definition?: Promise<PhotoList>;

  constructor(
    private readonly config: AppConfig,
    private readonly datasets: DatasetService,
    private readonly embeddings: EmbeddingService,
  ) {}

  /**
   * The bank for `baseModel`, from the cache or built now. Never throws for the bank's sake (a job never fails
   * because of it): a bank that cannot be had is reported as unavailable. `cancel` ends the wait, not the build, which
   * later trainings share. `onBuild` hears of the build's progress, if the bank is being built.
   */
  async forBaseModel(
    baseModel: BaseModelFiles,
    cancel?: AbortSignal,
    onBuild?: BankBuildProgress,
    waitMs = BANK_WAIT_MS,
  ): Promise<BankAvailability> {
    const failed = this.failures.get(baseModel.sha256);
    if (failed && Date.now() - failed.at < BANK_RETRY_AFTER_MS) return { bank: null, unavailable: failed.reason };
    const building = this.require(baseModel, onBuild).then((cached) => cached.bank);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const waited = await Promise.race([
        building,
        new Promise<string>((resolve) => {
          timer = setTimeout(
            () => resolve(`the negative bank is still being built after ${waitMs / 1000} s; later trainings use it`),
            waitMs,
          );
        }),
        new Promise<never>((_, reject) => {
          onAbort = () => reject(cancel!.reason);
          cancel?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
      return typeof waited === 'string' ? { bank: null, unavailable: waited } : { bank: waited };
    } catch (err) {
      if (cancel?.aborted) throw err;
      return { bank: null, unavailable: (err as Error).message };
    } finally {
      clearTimeout(timer);
      if (onAbort) cancel?.removeEventListener('abort', onAbort);
      if (onBuild) this.stopTelling(baseModel.sha256, onBuild);
    }
  }

  /**
   * The bank, however long building it takes (npm run fetch-models); throws NegativeBankError when it cannot be had.
   * `onBuild` hears of the build's progress, if the bank is being built.
   */
  require(baseModel: BaseModelFiles, onBuild?: BankBuildProgress): Promise<CachedBank> {
    if (onBuild) {
      const listeners = this.buildListeners.get(baseModel.sha256) ?? new Set();
      this.buildListeners.set(baseModel.sha256, listeners.add(onBuild));
    }
    const bank = cachedPromise(this.banks, baseModel.sha256, () => this.load(baseModel));
    if (onBuild) {
      const forget = () => this.stopTelling(baseModel.sha256, onBuild);
      bank.then(forget, forget);
    }
    return bank;
  }

  private stopTelling(sha256: string, onBuild: BankBuildProgress): void {
    const listeners = this.buildListeners.get(sha256);
    listeners?.delete(onBuild);
    if (listeners?.size === 0) this.buildListeners.delete(sha256);
  }

  /** The cached bank, or a new one: a failure is remembered (and logged once) until BANK_RETRY_AFTER_MS. */
  private async load(baseModel: BaseModelFiles): Promise<CachedBank> {
    try {
      const definition = await (this.definition ??= loadBankDefinition());
      const identity = { baseModelSha256: baseModel.sha256, definitionSha256: definition.sha256 };
      const dir = path.join(this.config.MODEL_CACHE_DIR, 'negative-banks', bankFolderName(identity));
      const bank = (await readNegativeBank(dir, identity)) ?? (await this.build(baseModel, definition, identity, dir));
      this.failures.delete(baseModel.sha256);
      return { bank, dir };
    } catch (err) {
      const reason =
        `no negative bank for base model ${baseModel.sha256.slice(0, 12)}…: ${(err as Error).message} ` +
        `(to use a copy of your own, set GROCERY_DATASET_URL to the Grocery Store Dataset's dataset/ folder)`;
      this.failures.set(baseModel.sha256, { at: Date.now(), reason });
      this.logger.warn(
        `${reason}; trainings go without it (the gate is then less sure of unknown products) and try again in ` +
          `${BANK_RETRY_AFTER_MS / 60_000} min`,
      );
      throw new NegativeBankError(reason);
    }
  }

  /** Fetches the definition's photos from GROCERY_DATASET_URL, embeds them with the base model and caches the bank. */
  private async build(
    baseModel: BaseModelFiles,
    definition: PhotoList,
    identity: BankIdentity,
    dir: string,
  ): Promise<NegativeBank> {
    const source = this.config.GROCERY_DATASET_URL;
    const started = performance.now();
    this.logger.log(
      `building the negative bank for base model ${baseModel.sha256.slice(0, 12)}…: ${definition.photos.length} photos from ${source}`,
    );
    // What a build killed before it finished left beside the bank (its photos, up to 644 × 20 MB) goes first.
    for (const name of await removeStaleStaging(path.dirname(dir)))
      this.logger.log(`removed ${name}, left behind by a bank build that did not finish`);
    const workDir = stagingPath(dir, 'photos');
    // A listener's failure is its own: the build goes on for every training that waits for it.
    const report = (fraction: number) =>
      this.buildListeners.get(baseModel.sha256)?.forEach((hear) => {
        try {
          hear(fraction);
        } catch {
          // ignored
        }
      });
    try {
      report(0);
      let logged = 0;
      const dataset = await this.datasets.fromPublicDataset(source, definition.photos, workDir, {
        maxFailures: Math.floor(definition.photos.length * MAX_MISSING_SHARE) + 1,
        limit: 'BANK_DOWNLOAD_MAX_MB',
        onProgress: (done, total) => {
          report(done / total / 2);
          const quarter = Math.floor((4 * done) / total);
          if (quarter > logged) this.logger.log(`negative bank photos: ${done} of ${total} fetched`);
          logged = Math.max(logged, quarter);
        },
      });
      const embedded = await this.embeddings.embed(dataset, baseModel, (done, total) => report(0.5 + done / total / 2));
      const skipped = [...dataset.skipped, ...embedded.skipped];
      const missing = definition.photos.length - embedded.images.length;
      if (missing > definition.photos.length * MAX_MISSING_SHARE)
        throw new Error(
          `${missing} of its ${definition.photos.length} photos could not be had from ${source} ` +
            `(first: ${skipped[0].name}: ${skipped[0].reason})`,
        );
      // The centre view of every photo that made it, in the dataset's order.
      const { set, images } = embedded;
      const centre = new Float32Array(images.length * EMBEDDING_SIZE);
      let photo = 0;
      set.plain.forEach((plain, row) => plain && centre.set(embeddingRow(set, row), photo++ * EMBEDDING_SIZE));
      const sources = images.map((image) => image.name);
      const bank = negativeBankOf(sources, centre);
      // A cache is a cache: a disk that refuses it (full, read-only) leaves the bank to this process alone.
      const cached = await writeNegativeBank(dir, identity, sources, bank).then(
        () => `cached in ${dir}`,
        (err: NodeJS.ErrnoException) => `not cached (MODEL_CACHE_DIR refused it: ${err.code ?? err.message})`,
      );
      this.logger.log(
        `negative bank built in ${((performance.now() - started) / 1000).toFixed(1)} s: ${sources.length} photos` +
          (missing ? ` (${missing} could not be had)` : '') +
          `, ${cached}`,
      );
      return bank;
    } finally {
      await fs.rm(workDir, { recursive: true, force: true });
    }
  }
}

/** The cache folder of a bank: both hashes, shortened (a collision would only cost a rebuild: the manifest says). */
function bankFolderName(identity: BankIdentity): string {
  return `${identity.baseModelSha256.slice(0, 16)}-${identity.definitionSha256.slice(0, 16)}`;
}
