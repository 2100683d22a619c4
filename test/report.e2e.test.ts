/**
 * End-to-end: report.html in Chromium, opened from file:// as a shop owner would: every product shown, a hostile
 * product name as text, no request outside the file, no console error, a page that is not blank, and small.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { shownName } from '../src/export/model-quality';
import { renderReport } from '../src/export/report';
import { launchChromium, NO_CHROMIUM } from './support/browser';
import { tempDir } from './support/fixtures';
import { madeUpReport } from './support/made-up-report';

const HOSTILE = '<script>document.title="owned"</script><img src=x onerror=alert(1)>';

describe('report.html in Chromium', { skip: NO_CHROMIUM }, () => {
  let work: string;
  let browser: Browser;
  let file: string;
  let names: string[];
  let bytes: number;

  before(async () => {
    work = await tempDir('report');
    // 40 products of 20 photos each, one named like markup.
    const input = await madeUpReport(40, 20);
    input.products[3].name = input.metadata.labelNames[3] = HOSTILE;
    names = input.products.map((p) => shownName(p.name));
    file = path.join(work, 'report.html');
    const html = renderReport(input);
    bytes = Buffer.byteLength(html);
    await fs.writeFile(file, html);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('shows every product, the hostile name as text, fetches nothing and logs no error', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(file).toString());
    const text = await page.locator('body').innerText();
    for (const name of names) assert.ok(text.includes(name), `shows ${name}`);
    assert.equal(await page.title(), 'What this model will recognise');
    assert.equal(await page.locator('script').count(), 0);
    assert.deepEqual(
      requests.filter((url) => !url.startsWith('file:') && !url.startsWith('data:')),
      [],
      'no request outside the file',
    );
    assert.deepEqual(errors, []);
    const screenshot = await page.screenshot({ fullPage: true });
    const { channels } = await sharp(screenshot).stats();
    assert.ok(
      channels.slice(0, 3).every((c) => c.stdev > 20),
      `not blank: ${channels.map((c) => c.stdev.toFixed(1)).join(', ')}`,
    );
    await page.close();
    assert.ok(bytes < 1_000_000, `${bytes} bytes`);
    t.diagnostic(`40 products × 20 photos: ${(bytes / 1024).toFixed(0)} kB`);
  });
});
