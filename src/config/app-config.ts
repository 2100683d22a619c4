import * as os from 'node:os';
import * as path from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsString, Max, Min, MinLength, validateSync } from 'class-validator';
import { TF_BACKENDS, type TfBackendChoice } from '../training/ml/backend';
import { DEFAULT_BASE_MODEL_URL } from '../training/ml/base-model';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));

/**
 * Every setting of the service, read from the environment once at start-up and validated: a bad value stops the
 * process with a message naming the variable. Nothing else reads process.env.
 */
export class AppConfig {
  /** `auto` (native if installed, else WebAssembly, else CPU), or one of tensorflow | wasm | cpu. */
  @IsIn(['auto', ...TF_BACKENDS])
  TF_BACKEND: TfBackendChoice = 'auto';

  /** The base model: http(s) URL, file:// URL or local path of a tfjs layers model.json. */
  @IsString()
  @MinLength(1)
  BASE_MODEL_URL: string = DEFAULT_BASE_MODEL_URL;

  /** Where downloaded base models are kept. */
  @IsString()
  @MinLength(1)
  MODEL_CACHE_DIR: string = path.join(os.homedir(), '.cache', 'ml-trainer');

  /** Where photo embeddings are kept (default: MODEL_CACHE_DIR/embeddings). */
  @IsString()
  EMBEDDING_CACHE_DIR = '';

  /** TensorFlow worker threads (default: number of CPUs). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  TRAINING_WORKERS: number = os.availableParallelism();

  /** Epochs of head training. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(500)
  TRAINING_EPOCHS = 20;

  get embeddingCacheDir(): string {
    return this.EMBEDDING_CACHE_DIR || path.join(this.MODEL_CACHE_DIR, 'embeddings');
  }
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Builds the configuration from environment variables; unknown variables are ignored, empty ones mean "default". */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const known = Object.keys(new AppConfig()).filter((k) => env[k] !== undefined && env[k] !== '');
  const config = plainToInstance(AppConfig, Object.fromEntries(known.map((k) => [k, env[k]])));
  const errors = validateSync(config, { forbidUnknownValues: false });
  if (errors.length) {
    const lines = errors.map(
      (e) => `${e.property}=${JSON.stringify(env[e.property])}: ${Object.values(e.constraints ?? {}).join('; ')}`,
    );
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return config;
}
