/**
 * End-to-end: `npm run demo` (the README's first command) as a user runs it, with BASE_MODEL_URL and
 * GROCERY_DATASET_URL on a loopback server standing in for the internet (the tests' random base model, rendered
 * photos at the dataset's paths), an empty HOME, and nothing left running or behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { closeServer, listenOnLoopback } from '../src/common/loopback';
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

  const demo = async (home: string) => {
    await fs.mkdir(home, { recursive: true });
    const started = performance.now();
    const { stdout } = await run(process.execPath, [DEMO, '--out', path.join(work, 'model')], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        BASE_MODEL_URL: `${url}/model/model.json`,
        GROCERY_DATASET_URL: `${url}/dataset/`,
        LOG_LEVEL: 'warn',
      },
    });
    return { stdout, seconds: (performance.now() - started) / 1000 };
  };

  it('trains five products through the service and a stand-in backend, says what the model does, and stops everything', async (t) => {
    const first = await demo(path.join(work, 'home'));
    const { stdout } = first;
    assert.match(stdout, /1\. Fetching the demo shop's 60 photos from http:\/\/127\.0\.0\.1:\d+\/dataset\//);
    assert.match(stdout, /5 products: Banana, Cantaloupe, Garant-Ecological-Medium-Fat-Milk, /);
    assert.match(stdout, /3\. The service runs at (http:\/\/127\.0\.0\.1:\d+) \(embedded database; its log: (\S+)\)/);
    assert.match(stdout, /running, (downloading|embedding|training|exporting), \d+ %/);
    assert.match(stdout, /completed, 100 %/);
    assert.match(stdout, /The model: 5 products, 60 photos/);
    assert.match(
      stdout,
      /at the till \(the web app names a product at probability 0\.9 or more\): about \d+ % of scans/,
    );
    assert.match(stdout, /negative bank: \d+ photos of other products|negative bank: none/);
    const metadata = JSON.parse(await fs.readFile(path.join(work, 'model', 'metadata.json'), 'utf8'));
    assert.equal(metadata.labels.length, 5);
    for (const file of ['model.json', 'weights.bin']) assert.ok(existsSync(path.join(work, 'model', file)), file);
    const report = await fs.readFile(path.join(work, 'model', 'report.html'), 'utf8');
    assert.match(report, /<td class="name">Banana/);
    assert.match(stdout, /what it recognises, what it confuses and what to photograph next: open \S+report\.html/);
    // What it downloaded at first use: the base model, the bank's 644 photos and the shop's 60.
    assert.ok(requests.includes('/model/model.json'));
    assert.equal(requests.filter((r) => r.startsWith('/dataset/')).length, 644 + 60);
    // Everything it started is gone: the service answers no more, its folder (log, database) is removed.
    const [, serviceUrl, log] = stdout.match(/The service runs at (\S+) \(embedded database; its log: (\S+)\)/)!;
    await assert.rejects(fetch(`${serviceUrl}/health`));
    assert.ok(!existsSync(path.dirname(log)), `${path.dirname(log)} removed`);

    const second = await demo(path.join(work, 'home'));
    assert.match(second.stdout, /The model: 5 products, 60 photos/);
    assert.equal(requests.filter((r) => r.startsWith('/dataset/')).length, 644 + 60 + 60, 'only the shop again');
    t.diagnostic(`first run ${first.seconds.toFixed(1)} s, second ${second.seconds.toFixed(1)} s`);
  });
});
