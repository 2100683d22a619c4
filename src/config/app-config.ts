/** Every setting the service and the CLI read from the environment, with its default, range and validation. */
import * as os from 'node:os';
import * as path from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import { CronTime } from 'cron';
import {
  IsBoolean,
  IsIP,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { HTTP_URL_OPTIONS } from '../common/validation';
import {
  TEACHABLE_MACHINE_BASE_MODEL,
  GROCERY_DATASET_URL,
  EMBEDDING_ENGINES,
  INPUT_RANGES,
  MAX_UNKNOWN_SHARE,
  TF_BACKENDS,
  type EmbeddingEngineChoice,
  type InputRange,
  type TfBackendChoice,
} from './ml-choices';
import { TrainerError } from '../common/errors';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const toNumber = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));
/** An integer setting within [min, max]: read from its string, then range-checked. */
function IntSetting(min: number, max?: number): PropertyDecorator {
  return (target, property) => {
    Transform(toNumber)(target, property);
    IsInt()(target, property);
    Min(min)(target, property);
    if (max !== undefined) Max(max)(target, property);
  };
}

const toBoolean = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? (({ true: true, '1': true, false: false, '0': false } as Record<string, boolean>)[value.toLowerCase()] ?? value)
    : value;

/**
 * Every setting of the service, read from the environment once at start-up and validated: a bad value stops the
 * process with a message naming the variable. Nothing else reads process.env.
 */
export class AppConfig {
  /** `production` refuses to start without ML_SERVICE_TOKEN. */
  @IsString()
  NODE_ENV = 'development';

  /** HTTP port (ML_PORT is accepted as an alias). */
  @IntSetting(0, 65535)
  PORT = 3005;

  /**
   * The address the service listens on. Unset: every interface (IPv4 and IPv6), as a container needs; 127.0.0.1 for
   * a service only this machine reaches (the demo's).
   */
  @IsOptional()
  @IsIP(undefined, { message: 'HOST must be an IP address, e.g. 127.0.0.1 (unset: every interface)' })
  HOST?: string = undefined;

  /** Shared secret the backend sends as `Authorization: Bearer …` on every /v1 request. */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ML_SERVICE_TOKEN must be at least 16 characters' })
  ML_SERVICE_TOKEN?: string = undefined;

  /** Least severe level written to the JSON logs. */
  @IsIn(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  /**
   * Postgres holding the job records (TypeORM) and the job queue (pg-boss). Unset outside production: an embedded
   * PostgreSQL in DATA_DIR. Required in production.
   */
  @IsOptional()
  @IsString()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// connection string' })
  DATABASE_URL?: string = undefined;

  /** The embedded PostgreSQL's cluster (DATA_DIR/postgres), when DATABASE_URL is unset. */
  @IsString()
  @MinLength(1)
  DATA_DIR: string = path.join(os.homedir(), '.local', 'share', 'ml-trainer');

  /** Jobs run at the same time in this process. */
  @IntSetting(1, 16)
  TRAINING_CONCURRENCY = 1;

  /** Working files of a job go to WORK_DIR/<jobId> and are removed when the job ends (one folder per user by default). */
  @IsString()
  @MinLength(1)
  WORK_DIR: string = path.join(os.tmpdir(), `ml-trainer-jobs-${os.userInfo().username}`);

  /**
   * Queued jobs (of every process on the database) past which POST /v1/train answers 429 with Retry-After: a flood
   * of requests is refused at the door instead of queueing hours of work ahead of real channels.
   */
  @IntSetting(1, 100_000)
  MAX_QUEUED_JOBS = 200;

  /** Attempts of a job (a crashed or interrupted attempt is retried from the start). */
  @IntSetting(1, 10)
  JOB_MAX_ATTEMPTS = 3;

  /** Wait before the first retry of a job; doubles with each retry. */
  @IntSetting(0)
  JOB_RETRY_DELAY_SECONDS = 30;

  /**
   * Longest an attempt may run, downloads, training and upload together: then the job fails with that reason, its
   * requests are cancelled and its slot is free (not retried: another attempt would most likely take as long).
   */
  // Node's timers hold at most 2^31 − 1 ms (24.8 days); a longer one would fire at once.
  @IntSetting(1, 2_147_483)
  JOB_TIMEOUT_SECONDS = 3600;

  /** A running job whose process has not reported for this long is handed back to the queue. */
  @IntSetting(2)
  JOB_STALE_SECONDS = 60;

  /** On SIGTERM, running jobs get this long to finish; unfinished ones go back to the queue for another process. */
  @IntSetting(0)
  SHUTDOWN_GRACE_SECONDS = 30;

  /** How often idle workers look for queued jobs. */
  @IntSetting(1)
  QUEUE_POLL_SECONDS = 2;

  /** Deadline of one photo download, body included (a server trickling bytes is cut off). */
  @IntSetting(1)
  DOWNLOAD_TIMEOUT_SECONDS = 30;

  /**
   * A job stops downloading once its photos and scans came to this many megabytes (the rest are skipped, saying
   * so): 50,000 photos of 20 MB would otherwise be a terabyte on the disk every job shares. 20–40 products of 5–20
   * phone photos are about 0.3–2.4 GB.
   */
  @IntSetting(1)
  JOB_DOWNLOAD_MAX_MB = 4096;

  /** The negative bank's build stops downloading past this many megabytes (its 644 photos are about 14 MB). */
  @IntSetting(1)
  BANK_DOWNLOAD_MAX_MB = 200;

  /** Deadline of the whole manifest request and of each status webhook (connect, headers and body). */
  @IntSetting(1)
  BACKEND_REQUEST_TIMEOUT_SECONDS = 30;

  /** Deadline of each upload attempt, whole request. */
  @IntSetting(1)
  UPLOAD_TIMEOUT_SECONDS = 120;

  /** Largest manifest accepted: reading stops past it and the job fails (10,000 products fit in far less). */
  @IntSetting(1024)
  MANIFEST_MAX_BYTES = 10 * 1024 * 1024;

  /** Upload attempts before a job fails; the wait starts at UPLOAD_RETRY_DELAY_SECONDS and doubles. */
  @IntSetting(1, 20)
  UPLOAD_ATTEMPTS = 5;

  @IntSetting(0)
  UPLOAD_RETRY_DELAY_SECONDS = 2;

  /** Where channels' training state lives: our `channel_training_state` table, or the backend's `channel` table. */
  @IsIn(['own', 'vendure'])
  CHANNEL_STATE_SOURCE: 'own' | 'vendure' = 'own';

  /** When the scheduler looks for queued channels (cron syntax; default: every hour at minute 0). */
  @IsString()
  SCHEDULER_CRON = '0 * * * *';

  @Transform(toBoolean)
  @IsBoolean({ message: 'SCHEDULER_ENABLED must be true or false' })
  SCHEDULER_ENABLED = true;

  /** A channel is trained at most once per this many hours. */
  @Transform(toNumber)
  @Min(0)
  @IsNumber({}, { message: 'COOLDOWN_HOURS must be a number' })
  COOLDOWN_HOURS = 4;

  /** The backend as the scheduler reaches it: manifest and webhook URLs of scheduled trainings start with it. */
  @IsUrl(HTTP_URL_OPTIONS, { message: 'BACKEND_INTERNAL_URL must be an http(s) URL' })
  BACKEND_INTERNAL_URL = 'http://backend:3000';

  /**
   * Hosts that outbound requests may reach (comma list), besides the hosts of each job's own manifest and webhook
   * URLs. Default: the host of BACKEND_INTERNAL_URL. Photos on another host (a CDN) need it listed here.
   */
  @IsOptional()
  @IsString()
  ALLOWED_HOSTS?: string = undefined;

  /** Comma list of ports outbound requests may use, besides the ports of each job's own URLs. */
  @IsOptional()
  @Matches(/^\s*\d{1,5}\s*(,\s*\d{1,5}\s*)*$/, { message: 'ALLOWED_PORTS must be a comma list of port numbers' })
  ALLOWED_PORTS = '80,443';

  /** `auto` (native if installed, else WebAssembly, else CPU), or one of tensorflow | wasm | cpu. */
  @IsIn(['auto', ...TF_BACKENDS])
  TF_BACKEND: TfBackendChoice = 'auto';

  /**
   * `auto` embeds photos with ONNX Runtime (a graph generated from the base model) when it loads, else with
   * TensorFlow.js; `onnx` or `tfjs` forces one. The linear head's fit does its products with ONNX Runtime too unless
   * this is `tfjs` (see rowProducts); the MLP head and the export always use TensorFlow.js.
   */
  @IsIn(EMBEDDING_ENGINES)
  EMBEDDING_ENGINE: EmbeddingEngineChoice = 'auto';

  /**
   * The base model: http(s) URL, file:// URL or local path of a tfjs layers model.json; default: Teachable Machine's,
   * from where its library loads it (downloaded once into MODEL_CACHE_DIR).
   */
  @IsString()
  @MinLength(1)
  BASE_MODEL_URL: string = TEACHABLE_MACHINE_BASE_MODEL.url;

  /**
   * Where the negative bank's photos come from: the Grocery Store Dataset's `dataset/` folder, as an http(s) URL or a
   * local folder (default: its public repository). Fetched once per base model and cached in MODEL_CACHE_DIR.
   */
  @IsString()
  @MinLength(1)
  GROCERY_DATASET_URL: string = GROCERY_DATASET_URL;

  /** Where downloaded base models and negative banks are kept. */
  @IsString()
  @MinLength(1)
  MODEL_CACHE_DIR: string = path.join(os.homedir(), '.cache', 'ml-trainer');

  /** Where photo embeddings are kept (default: MODEL_CACHE_DIR/embeddings). */
  @IsString()
  EMBEDDING_CACHE_DIR = '';

  /** Worker threads for TensorFlow.js and ONNX Runtime (default: number of CPUs). */
  @IntSetting(1, 64)
  TRAINING_WORKERS: number = os.availableParallelism();

  /**
   * What the exported model takes: `tm` = Teachable Machine's x / 127 − 1 (for @teachablemachine/image),
   * `unit` = x / 255, rescaled inside the model (for the shop's web app). POST /v1/train may choose per job.
   */
  @IsIn(INPUT_RANGES)
  MODEL_INPUT_RANGE: InputRange = 'tm';

  /** Largest share of all scans the recognition gate may let through as a wrong product (docs/accuracy.md). */
  @Transform(toNumber)
  @IsNumber()
  @Min(0.001)
  @Max(0.5)
  RECOGNITION_MAX_FALSE_ACCEPT = 0.02;

  /**
   * Share of scans expected to show something the shop does not sell; the gate is calibrated for it, and is safe for
   * any lower share. Half, by default: a shop rarely knows its till's mix, and a gate made for half kept wrong names
   * within 2 % on the mean and 4 % on the worst of 100 development shops at every true share up to half
   * (docs/accuracy.md). A job's stated share, or the till's scans confirmed as none, replace it.
   */
  @Transform(toNumber)
  @IsNumber()
  @Min(0)
  @Max(MAX_UNKNOWN_SHARE)
  RECOGNITION_UNKNOWN_SHARE = 0.5;

  get embeddingCacheDir(): string {
    return this.EMBEDDING_CACHE_DIR || path.join(this.MODEL_CACHE_DIR, 'embeddings');
  }

  get allowedHosts(): string[] {
    if (this.ALLOWED_HOSTS)
      return this.ALLOWED_HOSTS.split(',')
        .map((h) => h.trim())
        .filter(Boolean);
    return [new URL(this.BACKEND_INTERNAL_URL).hostname];
  }

  /** ALLOWED_PORTS, and the port of BACKEND_INTERNAL_URL (the scheduler's jobs reach the backend there). */
  get allowedPorts(): number[] {
    const backend = new URL(this.BACKEND_INTERNAL_URL);
    const backendPort = Number(backend.port) || (backend.protocol === 'https:' ? 443 : 80);
    return [...new Set([...this.ALLOWED_PORTS.split(',').map((p) => Number(p.trim())), backendPort])];
  }

  get production(): boolean {
    return this.NODE_ENV === 'production';
  }
}

export class ConfigError extends TrainerError {}

/** Variables accepted under another name, for compatibility with the backend's deployment files. */
const ALIASES: Record<string, keyof AppConfig> = { ML_PORT: 'PORT' };

/** Builds the configuration from environment variables; unknown variables are ignored, empty ones mean "default". */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const given = (name: string) => env[name] !== undefined && env[name] !== '';
  const values: Record<string, string | undefined> = {};
  for (const [alias, name] of Object.entries(ALIASES)) if (given(alias)) values[name] = env[alias];
  for (const name of Object.keys(new AppConfig())) if (given(name)) values[name] = env[name];
  const config = plainToInstance(AppConfig, values);
  const errors = validateSync(config, { forbidUnknownValues: false });
  const problems = errors.map((e) => {
    const constraints = e.constraints ?? {};
    // A value of the wrong type fails the range checks too; only the type matters then.
    const message = constraints.isInt ?? Object.values(constraints).join('; ');
    return `${e.property}=${JSON.stringify(values[e.property])}: ${message}`;
  });
  try {
    new CronTime(config.SCHEDULER_CRON);
  } catch (err) {
    problems.push(
      `SCHEDULER_CRON=${JSON.stringify(config.SCHEDULER_CRON)}: not a cron expression (${(err as Error).message})`,
    );
  }
  if (config.production && !config.DATABASE_URL) {
    problems.push(
      'DATABASE_URL is required when NODE_ENV=production (the embedded database is for trying the service out)',
    );
  }
  if (config.production && !config.ML_SERVICE_TOKEN) {
    problems.push('ML_SERVICE_TOKEN is required when NODE_ENV=production (the API would otherwise be open)');
  }
  if (problems.length) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}
