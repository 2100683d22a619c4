/** End-to-end: the CLI's arguments, output and exit codes. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parseCliArgs, UsageError } from '../src/cli';
import { groceryFolder, tempDir } from './support/fixtures';
import { closeServer, listenOnLoopback } from '../src/common/loopback';
import { BASE_MODEL_JSON, NO_GROCERY_DATASET, QUICK_CLASSES } from './support/shared';
import { renderedGroceryDataset, renderedTestPhotos } from './support/rendered-photos';

const run = promisify(execFile);
const CLI = path.join(__dirname, '..', 'src', 'cli.js');

describe('CLI arguments', () => {
  it('needs exactly one source and an output folder', () => {
    assert.throws(
      () => parseCliArgs(['--out', 'x']),
      new UsageError('give exactly one of --images DIR or --manifest FILE|URL'),
    );
    assert.throws(() => parseCliArgs(['--images', 'a', '--manifest', 'b', '--out', 'x']), UsageError);
    assert.throws(() => parseCliArgs(['--images', 'a']), /--out DIR is required/);
    assert.throws(
      () => parseCliArgs(['--images', 'a', '--out', 'x', '--unknown-share', '0.95']),
      /--unknown-share must be a number from 0 to 0.9/,
    );
    assert.throws(() => parseCliArgs(['--images', 'a', '--out', 'x', '--bogus']), /Unknown option '--bogus'/);
    assert.equal(parseCliArgs(['--help']), 'help');
    assert.deepEqual(
      [parseCliArgs(['--images', 'a', '--out', 'x', '--scans', 's', '--scans-none', 'n'])].map((o) =>
        typeof o === 'object' && 'scans' in o ? [o.scans, o.scansNone] : o,
      ),
      [['s', 'n']],
    );
    assert.throws(
      () => parseCliArgs(['--images', 'a', '--out', 'x', '--input-range', 'pct']),
      /--input-range must be one of tm, unit/,
    );
    assert.deepEqual(parseCliArgs(['--images', 'a', '--out', 'x', '--unknown-share', '0.25', '--json']), {
      images: 'a',
      manifest: undefined,
      scans: undefined,
      scansNone: undefined,
      previousModel: undefined,
      out: path.resolve('x'),
      baseModel: undefined,
      unknownShare: 0.25,
      inputRange: undefined,
      json: true,
      verbose: false,
    });
  });
});

describe('CLI end to end', () => {
  let work: string;
  let server: Server;
  let baseUrl: string;
  const env = () => ({
    ...process.env,
    BASE_MODEL_URL: BASE_MODEL_JSON,
    MODEL_CACHE_DIR: path.join(work, 'cache'),
    GROCERY_DATASET_URL: NO_GROCERY_DATASET,
    TRAINING_WORKERS: '2',
  });
  /** Requests for the stand-in of the grocery dataset's host (`/grocery/…`, the rendered bank photos). */
  let groceryRequests = 0;

  before(async () => {
    work = await tempDir('cli');
    await groceryFolder(path.join(work, 'photos'), QUICK_CLASSES.slice(0, 2), 4);
    const bankPhotos = await renderedGroceryDataset();
    server = createServer(async (req, res) => {
      const route = decodeURIComponent(req.url!);
      try {
        if (route.startsWith('/grocery/')) {
          groceryRequests++;
          res.end(await fs.readFile(path.join(bankPhotos, route.slice('/grocery/'.length))));
        } else res.end(await fs.readFile(path.join(work, route)));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    baseUrl = await listenOnLoopback(server);
  });
  after(async () => {
    await closeServer(server);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('--fetch-models downloads the base model and builds its negative bank into MODEL_CACHE_DIR once, for an image built without internet', async () => {
    await fs.cp(path.dirname(BASE_MODEL_JSON), path.join(work, 'base'), { recursive: true });
    const url = `${baseUrl}/base/model.json`;
    const fetchEnv = { ...env(), GROCERY_DATASET_URL: `${baseUrl}/grocery/` };
    const { stdout, stderr } = await run(process.execPath, [CLI, '--fetch-models', '--base-model', url], {
      env: fetchEnv,
    });
    // Not a terminal: a line as each phase starts (and its progress every few seconds), nothing the services log.
    assert.match(stderr, /^base model\n/);
    assert.match(
      stderr,
      /^negative-bank: fetching and embedding photos of products a shop does not sell \(once per base model, cached\)$/m,
    );
    assert.doesNotMatch(stderr, /downloading the base model from|building the negative bank/);
    assert.equal(groceryRequests, 644);
    const [modelLine, bankLine] = stdout.trim().split('\n');
    const cached = modelLine.replace(/^base model: /, '');
    assert.ok(cached.startsWith(path.join(work, 'cache') + path.sep), cached);
    assert.deepEqual(await fs.readFile(cached), await fs.readFile(BASE_MODEL_JSON));
    assert.match(bankLine, /^negative bank: 644 photos, in \S+negative-banks\S+$/);
    await fs.rm(path.join(work, 'base'), { recursive: true });
    const again = await run(process.execPath, [CLI, '--fetch-models', '--base-model', url], { env: fetchEnv });
    assert.equal(again.stdout, stdout, 'served from the cache once the URLs are gone');
    assert.equal(groceryRequests, 644, 'no photo fetched again');
    assert.throws(() => parseCliArgs(['--fetch-models', '--out', 'x']), /--fetch-models takes only --base-model/);

    // Photos that cannot be had: an error saying what to do, exit 1, and nothing cached.
    const failed = await run(process.execPath, [CLI, '--fetch-models'], {
      env: { ...env(), MODEL_CACHE_DIR: path.join(work, 'cache-2'), GROCERY_DATASET_URL: `${baseUrl}/absent/` },
    }).then(
      () => assert.fail('exit 0'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      /no negative bank for base model \w+…: 644 of its 644 photos could not be had from http:\S+\/absent\/ \(first: train\/\S+\.jpg: download failed: HTTP 404\) \(to use a copy of your own, set GROCERY_DATASET_URL/,
    );
    assert.doesNotMatch(failed.stderr, /\n\s+at /, 'a message, not a stack');
  });

  it('trains from a folder and prints one JSON summary line last', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [CLI, '--images', path.join(work, 'photos'), '--out', path.join(work, 'model'), '--json'],
      { env: env() },
    );
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines[lines.length - 1]);
    assert.equal(summary.classes, 2);
    assert.equal(summary.images, 8);
    assert.deepEqual(summary.skippedImages, []);
    assert.equal(summary.outputs['model.json'], path.join(work, 'model', 'model.json'));
    assert.equal(summary.outputs['report.html'], path.join(work, 'model', 'report.html'));
    for (const stage of ['embedding', 'training', 'exporting', 'total'])
      assert.ok(summary.secondsPerStage[stage] >= 0, stage);
    const metadata = JSON.parse(await fs.readFile(path.join(work, 'model', 'metadata.json'), 'utf8'));
    assert.deepEqual(summary.quality, metadata.quality);
    // Off a terminal: a line as each stage starts, the warnings, and nothing a framework says.
    assert.deepEqual(
      stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('Warning: ')),
      ['embedding', 'training', 'exporting'],
    );
  });

  it("says what the model will do in metadata.json's own words, and what the services log only with --verbose", async () => {
    const train = (out: string, ...extra: string[]) =>
      run(process.execPath, [CLI, '--images', path.join(work, 'photos'), '--out', path.join(work, out), ...extra], {
        env: env(),
      });
    const { stdout, stderr } = await train('model-words');
    const { quality } = JSON.parse(await fs.readFile(path.join(work, 'model-words', 'metadata.json'), 'utf8'));
    const lines = stdout.split('\n');
    for (const text of [quality.headline, quality.explanation]) assert.ok(lines.includes(text), text);
    for (const advice of quality.advice) assert.ok(lines.includes(`  - ${advice}`), advice);
    assert.match(quality.headline, /^2 products from 8 photos\./);
    assert.doesNotMatch(stderr, /\[Nest\]|LOG|TensorFlow/);
    const verbose = await train('model-verbose', '--verbose');
    assert.match(verbose.stderr, /^\[TensorFlow\] TensorFlow\.js backend: (wasm|tensorflow)/m);
    assert.doesNotMatch(verbose.stderr, /\[Nest\]|NestFactory|InstanceLoader/);
  });

  it('embeds with ONNX Runtime, and with TensorFlow.js when onnxruntime-node cannot load (EMBEDDING_ENGINE=onnx then fails clearly)', async () => {
    const train = (out: string, extra: Record<string, string> = {}) =>
      run(
        process.execPath,
        [CLI, '--images', path.join(work, 'photos'), '--out', path.join(work, out), '--json', '--verbose'],
        {
          env: { ...env(), EMBEDDING_CACHE_DIR: path.join(work, `embeddings-${out}`), ...extra },
        },
      );
    const onnx = await train('model-onnx');
    assert.match(onnx.stderr, /embedding engine: ONNX Runtime 1\.\d+\.\d+/);
    const withoutOnnx = { NODE_OPTIONS: `--require ${path.join(__dirname, 'support', 'no-onnxruntime.js')}` };
    const fallback = await train('model-tfjs', withoutOnnx);
    assert.match(
      fallback.stderr,
      /embedding engine: TensorFlow\.js \(ONNX Runtime not used: onnxruntime-node could not be loaded: simulated: no ONNX Runtime binary for this platform\)/,
    );
    const [a, b] = [onnx, fallback].map((r) => JSON.parse(r.stdout.trim().split('\n').pop()!));
    assert.equal(b.images, a.images);
    assert.deepEqual(b.labels, a.labels);
    await assert.rejects(
      train('model-none', { ...withoutOnnx, EMBEDDING_ENGINE: 'onnx' }),
      (err: { stderr: string }) => {
        assert.match(err.stderr, /EMBEDDING_ENGINE=onnx cannot be used: onnxruntime-node could not be loaded/);
        return true;
      },
    );
  });

  it('on a terminal, prints log lines above the progress bars, never into one', async (t) => {
    const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
    if (!script) return t.skip('needs util-linux `script` to give the CLI a terminal');
    const command = [
      process.execPath,
      CLI,
      '--images',
      path.join(work, 'photos'),
      '--out',
      path.join(work, 'tty'),
      '--verbose',
    ];
    const { stdout } = await run(script, ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], {
      env: { ...env(), EMBEDDING_CACHE_DIR: path.join(work, 'embeddings-tty') },
    });
    // What the terminal shows, line by line: a move to column 1 (or a carriage return) starts a line again, other
    // escape sequences are dropped.
    const lines = stdout
      .replace(/\x1b\[\d*G/g, '\n')
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .split(/[\r\n]+/)
      .filter(Boolean);
    assert.ok(
      lines.some((l) => /^embedding +\[[=-]+\] \d+ %$/.test(l)),
      'a bar is drawn',
    );
    assert.ok(
      lines.some((l) => /^\[TensorFlow\] TensorFlow\.js backend/.test(l)),
      'log lines are shown',
    );
    const mixed = lines.filter((l) => /\[[=-]{10,}\]/.test(l) && /\[[A-Z][A-Za-z]+\]/.test(l));
    assert.deepEqual(mixed, [], 'no log line inside a bar');
    const report = path.join(work, 'tty', 'report.html');
    assert.ok(
      lines.includes(`Its report (every product, what it confuses, what to photograph next): ${report}`),
      'the summary points at the report',
    );
  });

  it('trains from a manifest, downloading its photos and reporting the ones that fail', async () => {
    const folders = await fs.readdir(path.join(work, 'photos'));
    const products = await Promise.all(
      folders.map(async (folder, i) => ({
        productId: `p${i + 1}`,
        productName: folder,
        images: (await fs.readdir(path.join(work, 'photos', folder))).map((file, j) => ({
          assetId: `${i}-${j}`,
          url: `${baseUrl}/photos/${encodeURIComponent(folder)}/${encodeURIComponent(file)}`,
          filename: file,
        })),
      })),
    );
    products[0].images.push({ assetId: 'gone', url: `${baseUrl}/photos/missing.jpg`, filename: '../../etc/passwd' });
    const manifest = path.join(work, 'manifest.json');
    await fs.writeFile(
      manifest,
      JSON.stringify({ channelId: '2', version: '1', extractedAt: new Date().toISOString(), products }),
    );
    const { stdout } = await run(
      process.execPath,
      [CLI, '--manifest', manifest, '--out', path.join(work, 'model-m'), '--json'],
      { env: env() },
    );
    const summary = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.deepEqual(summary.labels, ['p1', 'p2']);
    assert.equal(summary.images, 8);
    assert.deepEqual(summary.skippedImages, [{ label: 'p1', name: 'asset gone', reason: 'download failed: HTTP 404' }]);
    assert.ok(summary.secondsPerStage.downloading >= 0);
    const metadata = JSON.parse(await fs.readFile(path.join(work, 'model-m', 'metadata.json'), 'utf8'));
    assert.deepEqual(metadata.labelNames, folders);
  });

  it("learns from the till's confirmed scans and says what they measured", async () => {
    const rendered = await renderedTestPhotos();
    const shopDir = path.join(rendered, 'sample-shop');
    const products = await fs.readdir(shopDir);
    const scans = path.join(work, 'scans');
    const none = path.join(work, 'scans-none');
    await fs.mkdir(none, { recursive: true });
    // Other-day photos: each shop product's as its confirmed scans, three products it does not sell as none.
    for (const product of [...products, 'Not-Sold']) {
      const from = path.join(rendered, 'val', product === 'Not-Sold' ? 'Lemon-Soda' : product);
      await fs.cp(from, path.join(scans, product), { recursive: true });
    }
    for (const other of ['Dish-Sponge', 'Corn-Flakes', 'Tomato-Jar'])
      for (const file of await fs.readdir(path.join(rendered, 'val', other)))
        await fs.copyFile(path.join(rendered, 'val', other, file), path.join(none, file));
    const out = path.join(work, 'model-scans');
    const { stdout } = await run(
      process.execPath,
      [CLI, '--images', shopDir, '--scans', scans, '--scans-none', none, '--out', out],
      { env: env() },
    );
    const metadata = JSON.parse(await fs.readFile(path.join(out, 'metadata.json'), 'utf8'));
    const figures = metadata.recognition.tillScans;
    assert.equal(figures.ofProducts, 25, '5 scans of each of the 5 products');
    assert.equal(figures.ofNone, 15);
    assert.equal(figures.unknownShareFrom, 'scans');
    assert.equal(metadata.recognition.unknownShare, 15 / 40, 'the share the scans show, not the setting');
    assert.ok(figures.namedRight + figures.namedWrong <= 25 && figures.namedAsProduct <= 15);
    assert.ok(figures.wrongUpTo > 0 && figures.wrongUpTo < 1);
    assert.match(metadata.recognition.method, /chosen on the till's confirmed scans/);
    assert.match(
      metadata.quality.explanation,
      new RegExp(
        `Measured on 40 scans the till's cashiers confirmed, .*: ${figures.namedRight} of 25 scans of these ` +
          `products named right and ${figures.namedWrong} as another product; ${figures.namedAsProduct} of 15 scans ` +
          `of other things named as a product`,
      ),
    );
    const lines = stdout.split('\n');
    assert.match(lines[0], /^Trained 5 products on 60 photos and 40 confirmed scans in /);
    assert.ok(lines.includes(metadata.quality.explanation));
    assert.ok(lines.includes('Warning: scans of Not-Sold left out: no product of that name among the photos'), stdout);
    // The same photos without scans: the stated share, and figures that are estimates.
    const plain = path.join(work, 'model-no-scans');
    await run(process.execPath, [CLI, '--images', shopDir, '--out', plain], { env: env() });
    const before = JSON.parse(await fs.readFile(path.join(plain, 'metadata.json'), 'utf8'));
    assert.equal(before.recognition.tillScans, null);
    assert.equal(before.recognition.unknownShare, 0.5);
    assert.match(before.quality.explanation, /an estimate: no scan confirmed at the till has been sent yet/);

    // The scans taken since that model: both models on them.
    const later = new Date(Date.parse(before.timeStamp) + 60_000);
    for (const dir of [...products.map((p) => path.join(scans, p)), none])
      for (const file of await fs.readdir(dir)) await fs.utimes(path.join(dir, file), later, later);
    const compared = path.join(work, 'model-compared');
    await run(
      process.execPath,
      [CLI, '--images', shopDir, '--scans', scans, '--scans-none', none, '--previous-model', plain, '--out', compared],
      { env: env() },
    );
    const after = JSON.parse(await fs.readFile(path.join(compared, 'metadata.json'), 'utf8'));
    const since = after.recognition.tillScans.sincePrevious;
    assert.equal(since.trainingId, before.trainingId);
    assert.equal(since.thisModel.ofProducts, 25);
    assert.equal(since.previousModel.ofNone, 15, 'the scans confirmed as none, all taken since');
    assert.match(after.quality.explanation, /Of the 40 scans taken since the last model \(trained /);
    await assert.rejects(
      run(process.execPath, [CLI, '--images', shopDir, '--previous-model', work, '--out', compared], { env: env() }),
      /cannot read the previous model's model\.json in /,
    );
  });

  it('exits 2 with the usage on a bad command line, and 1 with a clear message on bad input', async () => {
    await assert.rejects(
      run(process.execPath, [CLI, '--images', 'x'], { env: env() }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /--out DIR is required\n\nUsage: npm run train/);
        return true;
      },
    );
    await assert.rejects(
      run(process.execPath, [CLI, '--images', path.join(work, 'nothing'), '--out', path.join(work, 'o')], {
        env: env(),
      }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /cannot read the images folder .*nothing: ENOENT/);
        return true;
      },
    );
  });
});
