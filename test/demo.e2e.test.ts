/**
 * End-to-end: `npm run demo` (the README's first command) as a user runs it, with BASE_MODEL_URL and
 * GROCERY_DATASET_URL on a loopback server standing in for the internet (the tests' random base model, rendered
 * photos at the dataset's paths), an empty HOME, and nothing left running or behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { closeServer, listenOnLoopback } from '../src/common/loopback';
import { escapeHtml } from '../src/export/report';
import { tempDir } from './support/fixtures';
import { renderedGroceryDataset } from './support/rendered-photos';
import { BASE_MODEL_JSON } from './support/shared';

const run = promisify(execFile);
const DEMO = path.join(__dirname, '..', 'src', 'demo', 'demo.js');

describe('npm run demo', () => {
  let work: string;
  let server: Server;
  let url: string;
  const requests: string[] = [];

  before(async () => {
    work = await tempDir('demo');
    const dataset = await renderedGroceryDataset();
    const model = path.dirname(BASE_MODEL_JSON);
    server = createServer(async (req, res) => {
      const route = decodeURIComponent(req.url!);
      requests.push(route);
      const [, root, ...rest] = route.split('/');
      const folder = root === 'model' ? model : root === 'dataset' ? dataset : undefined;
      try {
        if (!folder || rest.includes('..')) throw new Error('not here');
        res.end(await fs.readFile(path.join(folder, ...rest)));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    url = await listenOnLoopback(server);
  });
  after(async () => {
    await closeServer(server);
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A newcomer's environment: the PATH, an own HOME, and the loopback stand-ins for the internet. */
  const demoEnv = (home: string, env: Record<string, string> = {}) => ({
    PATH: process.env.PATH,
    HOME: home,
    BASE_MODEL_URL: `${url}/model/model.json`,
    GROCERY_DATASET_URL: `${url}/dataset/`,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const demo = async (home: string, env: Record<string, string> = {}) => {
    await fs.mkdir(home, { recursive: true });
    const started = performance.now();
    const { stdout } = await run(process.execPath, [DEMO, '--out', path.join(work, 'model')], {
      cwd: work,
      env: demoEnv(home, env),
    });
    return { stdout, seconds: (performance.now() - started) / 1000 };
  };

  it('trains five products through the service and a stand-in backend, says what the model does, and stops everything', async (t) => {
    const first = await demo(path.join(work, 'home'));
    const { stdout } = first;
    assert.match(
      stdout,
      /1\. Fetching the demo shop's 60 photos and 49 scans from http:\/\/127\.0\.0\.1:\d+\/dataset\//,
    );
    assert.match(stdout, /5 products: Banana, Cantaloupe, Garant-Ecological-Medium-Fat-Milk, /);
    assert.match(
      stdout,
      /3\. The service runs at http:\/\/127\.0\.0\.1:\d+ \(its database in \S+ and its log in \S+, both removed at the end/,
    );
    assert.match(stdout, /running, (downloading|embedding|training|exporting), \d+ %/);
    assert.match(stdout, /completed, 100 %/);
    // Two jobs: the first model from the photos, the next one with the till's confirmed scans too.
    assert.match(stdout, /^4\. Job \S+ posted: the shop's first model, from its photos; its progress:$/m);
    assert.match(
      stdout,
      /^5\. At the till, the cashiers scanned the barcode whenever the model was not sure: 49 confirmed scans \(39 of the shop's products, 10 of things it does not sell\)/m,
    );
    assert.match(stdout, /^6\. Job \S+ posted: the next model, from the photos and the till's confirmed scans/m);
    const metadata = JSON.parse(await fs.readFile(path.join(work, 'model', 'metadata.json'), 'utf8'));
    assert.equal(metadata.labels.length, 5);
    assert.equal(metadata.recognition.tillScans.ofProducts, 39, 'the model written is the second');
    assert.equal(metadata.recognition.tillScans.ofNone, 10);
    // What changed: both models on the 49 scans taken since the first one.
    assert.equal(metadata.recognition.tillScans.sincePrevious.thisModel.ofProducts, 39);
    assert.equal(metadata.recognition.tillScans.sincePrevious.previousModel.ofNone, 10);
    assert.match(
      metadata.quality.explanation,
      /Of the 49 scans taken since the last model \(trained \d{4}-\d\d-\d\d; /,
    );
    assert.ok(metadata.recognition.negativeBank, 'trained with the negative bank');
    for (const file of ['model.json', 'weights.bin']) assert.ok(existsSync(path.join(work, 'model', file)), file);
    const report = await fs.readFile(path.join(work, 'model', 'report.html'), 'utf8');
    assert.match(report, /<td class="name">Banana/);
    // What the model will do, in the words of its metadata.json, which its report says too.
    const { quality } = metadata;
    assert.match(quality.headline, /^5 products from 60 photos\. At the till, expect /);
    const lines = stdout.split('\n');
    for (const text of [quality.headline, quality.explanation, ...quality.advice.map((a: string) => `  - ${a}`)])
      assert.ok(lines.includes(text), text);
    for (const text of [quality.headline, quality.explanation, ...quality.advice])
      assert.ok(report.includes(escapeHtml(text)), text);
    assert.match(stdout, /Its report \(every product, what it confuses, what to photograph next\): \S+report\.html/);
    // What it downloaded at first use: the base model, the bank's 644 photos, the shop's 60 and its till's 49.
    assert.ok(requests.includes('/model/model.json'));
    assert.equal(requests.filter((r) => r.startsWith('/dataset/')).length, 644 + 60 + 49);
    // Everything it started is gone: the service answers no more, its folder (log, database) is removed.
    const [, serviceUrl, folder, log] = stdout.match(
      /The service runs at (\S+) \(its database in (\S+) and its log in (\S+),/,
    )!;
    await assert.rejects(fetch(`${serviceUrl}/health`));
    assert.ok(!existsSync(folder), `${folder} removed`);
    assert.ok(!existsSync(log), `${log} removed`);

    const second = await demo(path.join(work, 'home'));
    assert.match(second.stdout, /^5 products from 60 photos\. At the till/m);
    assert.equal(requests.filter((r) => r.startsWith('/dataset/')).length, 644 + 2 * (60 + 49), 'only the shop again');
    t.diagnostic(`first run ${first.seconds.toFixed(1)} s, second ${second.seconds.toFixed(1)} s`);
  });

  it("keeps the service's log when the demo fails, and says where it is", async () => {
    const failed = await demo(path.join(work, 'home-failed'), {
      BASE_MODEL_URL: `${url}/model/missing.json`,
      JOB_MAX_ATTEMPTS: '1',
    }).then(
      () => assert.fail('the demo should fail'),
      (err: { code: number; stderr: string; stdout: string }) => err,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^demo failed: the job failed: /m);
    const [, log] = failed.stderr.match(/^the service's log is kept: (\S+)$/m)!;
    try {
      assert.match(await fs.readFile(log, 'utf8'), /missing\.json/, 'the log says what went wrong');
      const [, folder, named] = failed.stdout.match(/\(its database in (\S+) and its log in (\S+),/)!;
      assert.ok(!existsSync(folder), `${folder} removed`);
      assert.equal(named, log, 'the log it named at the start is the one kept');
    } finally {
      await fs.rm(log, { force: true });
    }
  });

  it('stops everything it started at Ctrl-C, whenever it comes, writes no model, says one line and exits 130', async (t) => {
    const home = path.join(work, 'home');
    /** Runs the demo in its own process group, as a terminal does, and presses Ctrl-C once `moment` is printed. */
    const interrupt = async (moment: RegExp) => {
      const out = path.join(work, 'interrupted-model');
      const child = spawn(process.execPath, [DEMO, '--out', out], {
        cwd: work,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: demoEnv(home),
      });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          stdout += d;
          if (moment.test(stdout)) resolve();
        });
        void exited.then(() => reject(new Error(`the demo ended before ${moment}: ${stdout}${stderr}`)));
      });
      const pressed = performance.now();
      process.kill(-child.pid!, 'SIGINT');
      const code = await exited;
      const seconds = (performance.now() - pressed) / 1000;
      return { code, seconds, stdout, stderr, out };
    };
    for (const moment of [
      /^1\. Fetching/m,
      /^3\. The service runs/m,
      /^4\. Job /m,
      /running, training/m,
      /^6\. Job /m,
    ]) {
      const { code, seconds, stdout, stderr, out } = await interrupt(moment);
      t.diagnostic(`Ctrl-C after ${moment}: exit ${code} in ${seconds.toFixed(2)} s`);
      assert.equal(code, 130, `${moment}: ${stderr}`);
      assert.ok(seconds < 10, `${moment}: stopped in ${seconds.toFixed(1)} s`);
      assert.equal(
        stderr,
        'interrupted (Ctrl-C): the demo stopped everything it started and wrote no model\n',
        'one line, no stack',
      );
      assert.ok(!existsSync(out), 'no model written');
      assert.doesNotMatch(stdout, /Done in/);
      const service = stdout.match(/The service runs at (\S+) \(its database in (\S+) and its log in (\S+),/);
      if (service) {
        const [, serviceUrl, folder, log] = service;
        await assert.rejects(fetch(`${serviceUrl}/health`), 'the service is gone');
        assert.ok(!existsSync(folder) && !existsSync(log), `${folder} and its log removed`);
        const running = (await fs.readdir('/proc')).filter((pid) => /^\d+$/.test(pid));
        for (const pid of running) {
          const command = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          assert.ok(!command.includes(folder), `process ${pid} still runs in ${folder}: ${command}`);
        }
      }
    }
  });
});
