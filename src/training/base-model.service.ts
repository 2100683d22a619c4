/** The base model a training uses: resolved once, downloaded and cached when it is a URL. */
import { Injectable, Logger } from '@nestjs/common';
import { TEACHABLE_MACHINE_BASE_MODEL, knownBaseModelSha256 } from '../config/ml-choices';
import { cachedPromise } from '../common/promise-cache';
import { AppConfig } from '../config/app-config';
import { resolveBaseModel, type BaseModelFiles, type DownloadProgress } from './ml';

/** Resolves the configured base model once per process (downloading and caching it if it is a URL). */
@Injectable()
export class BaseModelService {
  private readonly logger = new Logger(BaseModelService.name);
  private readonly resolved = new Map<string, Promise<BaseModelFiles>>();

  constructor(private readonly config: AppConfig) {}

  /**
   * `source` overrides BASE_MODEL_URL (the CLI's --base-model). A download reports to `onProgress` (the CLI's bar), or
   * else as a log line every quarter.
   */
  get(source = this.config.BASE_MODEL_URL, onProgress?: DownloadProgress): Promise<BaseModelFiles> {
    return cachedPromise(this.resolved, source, async () => {
      const f = await resolveBaseModel(source, this.config.MODEL_CACHE_DIR, {
        expectedSha256: knownBaseModelSha256(source),
        expectedName: TEACHABLE_MACHINE_BASE_MODEL.name,
        onProgress: onProgress ?? this.logProgress(source),
      });
      this.logger.log(`base model ${f.source} → ${f.modelJsonPath} (weights sha256 ${f.sha256.slice(0, 12)}…)`);
      return f;
    });
  }

  private logProgress(source: string): DownloadProgress {
    let logged = -1;
    return (received, total) => {
      const quarter = Math.floor((4 * received) / total);
      if (quarter === logged) return;
      logged = quarter;
      this.logger.log(
        `downloading the base model from ${source}: ${quarter * 25}% of ${(total / 1e6).toFixed(1)} MB, into ${this.config.MODEL_CACHE_DIR}`,
      );
    };
  }
}
