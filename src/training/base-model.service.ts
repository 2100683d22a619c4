/** The base model a training uses: resolved once, downloaded and cached when it is a URL. */
import { Injectable, Logger } from '@nestjs/common';
import { cachedPromise } from '../common/promise-cache';
import { AppConfig } from '../config/app-config';
import { resolveBaseModel, type BaseModelFiles } from './ml';

/** Resolves the configured base model once per process (downloading and caching it if it is a URL). */
@Injectable()
export class BaseModelService {
  private readonly logger = new Logger(BaseModelService.name);
  private readonly resolved = new Map<string, Promise<BaseModelFiles>>();

  constructor(private readonly config: AppConfig) {}

  /** `source` overrides BASE_MODEL_URL (the CLI's --base-model). */
  get(source = this.config.BASE_MODEL_URL): Promise<BaseModelFiles> {
    return cachedPromise(this.resolved, source, async () => {
      const f = await resolveBaseModel(source, this.config.MODEL_CACHE_DIR);
      this.logger.log(`base model ${f.source} → ${f.modelJsonPath} (weights sha256 ${f.sha256.slice(0, 12)}…)`);
      return f;
    });
  }
}
