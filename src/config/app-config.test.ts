/** Unit tests of configuration loading and its error messages. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { knownBaseModelSha256, TEACHABLE_MACHINE_BASE_MODEL } from './ml-choices';
import { AppConfig, ConfigError, loadConfig } from './app-config';

/** The checkout's root, from src/config in either the sources or the compiled dist-test/. */
const ROOT = path.resolve(
  __dirname,
  '..',
  '..',
  ...(path.basename(path.resolve(__dirname, '..', '..')) === 'dist-test' ? ['..'] : []),
);

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    assert.equal(config.PORT, 3005);
    assert.equal(config.TRAINING_CONCURRENCY, 1);
    assert.equal(config.JOB_MAX_ATTEMPTS, 3);
    assert.equal(config.TF_BACKEND, 'auto');
    assert.equal(config.ML_SERVICE_TOKEN, undefined);
    assert.match(config.embeddingCacheDir, /ml-trainer[\\/]embeddings$/);
    // The base model comes from where Teachable Machine's library loads it, and its weights' hash is checked.
    assert.equal(
      config.BASE_MODEL_URL,
      'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
    );
    assert.equal(knownBaseModelSha256(config.BASE_MODEL_URL), TEACHABLE_MACHINE_BASE_MODEL.sha256);
    assert.equal(knownBaseModelSha256('https://mirror.example/model.json'), undefined);
  });

  it('reads variables, with ML_PORT as an alias of PORT', () => {
    const config = loadConfig({ ML_PORT: '4000', ML_SERVICE_TOKEN: 'a-long-enough-secret' });
    assert.equal(config.PORT, 4000);
    assert.equal(config.ML_SERVICE_TOKEN, 'a-long-enough-secret');
    assert.equal(loadConfig({ ML_PORT: '4000', PORT: '5000' }).PORT, 5000, 'PORT wins over its alias');
    assert.equal(loadConfig({ HOST: '127.0.0.1' }).HOST, '127.0.0.1');
    assert.equal(loadConfig({ HOST: '::1' }).HOST, '::1');
    assert.equal(loadConfig({}).HOST, undefined, 'unset: every interface');
  });

  it('names every bad variable and says what is wrong', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', TF_BACKEND: 'gpu', DATABASE_URL: 'mysql://x', HOST: 'localhost' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /PORT="eighty": PORT must be an integer number/);
        assert.match(
          err.message,
          /TF_BACKEND="gpu": TF_BACKEND must be one of the following values: auto, tensorflow, wasm, cpu/,
        );
        assert.match(err.message, /DATABASE_URL="mysql:\/\/x": DATABASE_URL must be a postgres:\/\/ connection string/);
        assert.match(
          err.message,
          /HOST="localhost": HOST must be an IP address, e\.g\. 127\.0\.0\.1 \(unset: every interface\)/,
        );
        return true;
      },
    );
  });

  it('checks the scheduler settings', () => {
    const config = loadConfig({ SCHEDULER_ENABLED: 'false', COOLDOWN_HOURS: '2', CHANNEL_STATE_SOURCE: 'vendure' });
    assert.equal(config.SCHEDULER_ENABLED, false);
    assert.equal(config.COOLDOWN_HOURS, 2);
    assert.equal(config.SCHEDULER_CRON, '0 * * * *');
    assert.throws(
      () => loadConfig({ SCHEDULER_CRON: 'every hour' }),
      /SCHEDULER_CRON="every hour": not a cron expression/,
    );
    assert.throws(() => loadConfig({ SCHEDULER_ENABLED: 'maybe' }), /SCHEDULER_ENABLED must be true or false/);
    assert.throws(
      () => loadConfig({ CHANNEL_STATE_SOURCE: 'redis' }),
      /CHANNEL_STATE_SOURCE must be one of the following values: own, vendure/,
    );
    assert.throws(
      () => loadConfig({ BACKEND_INTERNAL_URL: 'backend:3000' }),
      /BACKEND_INTERNAL_URL must be an http\(s\) URL/,
    );
  });

  it('refuses to run in production without a service token', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      /ML_SERVICE_TOKEN is required when NODE_ENV=production/,
    );
    assert.throws(() => loadConfig({ ML_SERVICE_TOKEN: 'short' }), /ML_SERVICE_TOKEN must be at least 16 characters/);
    const database = { DATABASE_URL: 'postgres://db/ml_trainer' };
    assert.equal(
      loadConfig({ NODE_ENV: 'production', ML_SERVICE_TOKEN: 'a-long-enough-secret', ...database }).production,
      true,
    );
  });

  it('uses the embedded database only outside production', () => {
    assert.equal(loadConfig({}).DATABASE_URL, undefined);
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', ML_SERVICE_TOKEN: 'a-long-enough-secret' }),
      /DATABASE_URL is required when NODE_ENV=production/,
    );
  });

  it('is documented: .env.example and docs/configuration.md list every variable', () => {
    const variables = Object.keys(new AppConfig()).sort();
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const listed = [...example.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]).sort();
    assert.deepEqual(listed, variables, '.env.example');
    const reference = readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const name of variables)
      assert.match(reference, new RegExp(`^\\| \`${name}\``, 'm'), `docs/configuration.md row for ${name}`);
  });
});
