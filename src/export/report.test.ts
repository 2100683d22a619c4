/** Unit tests of report.html's renderer: plain words first, every text escaped, nothing fetched. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { madeUpReport } from '../../test/support/made-up-report';
import { describeQuality, lookAlikeAdvice } from './model-quality';
import {
  escapeHtml,
  MAX_HEAT_MAP_PRODUCTS,
  MAX_REPORT_BYTES,
  renderReport,
  thumbnailMaxBytes,
  type ReportInput,
} from './report';

/** The most a manifest allows: 1,024-character names, 256-character ids, 50,000 photos, 10 look-alike pairs. */
const LONGEST_NAME = 1024;
const LONGEST_ID = 256;
const MOST_IMAGES = 50_000;
const MOST_LOOK_ALIKES = 10;

/**
 * The largest report `products` products can make: every text from the job at its longest and made of characters
 * that escape to five, every list at its longest, every heat-map cell counted, every thumbnail as large as allowed.
 */
async function largestReportInput(products: number): Promise<ReportInput> {
  const input = await madeUpReport(products, 1);
  const name = (i: number) => `${'<'.repeat(LONGEST_NAME - String(i).length)}${i}`;
  const id = (i: number) => `${'"'.repeat(LONGEST_ID - String(i).length)}${i}`;
  const pairs = Math.min(MOST_LOOK_ALIKES, Math.floor(products / 2));
  const thumbnail = () => new Uint8Array(thumbnailMaxBytes(products, pairs)).fill(0xff);
  const { metadata } = input;
  metadata.modelName = name(0);
  metadata.labels = metadata.labels.map((_, i) => id(i));
  metadata.labelNames = metadata.labels.map((_, i) => name(i));
  metadata.metrics.confusionMatrix = metadata.labels.map(() => metadata.labels.map(() => MOST_IMAGES));
  const lookAlikes = Array.from({ length: pairs }, (_, k) => ({
    products: [id(2 * k), id(2 * k + 1)] as [string, string],
    names: [name(2 * k), name(2 * k + 1)] as [string, string],
    confusions: 1,
    advice: lookAlikeAdvice([name(2 * k), name(2 * k + 1)]),
  }));
  metadata.recognition.lookAlikes = lookAlikes;
  input.products = input.products.map((p, i) => ({ ...p, name: name(i), id: id(i), thumbnail: thumbnail() }));
  metadata.quality = describeQuality({
    products: input.products,
    photos: MOST_IMAGES,
    till: { named: 0.1, wrong: 0.02, unknownShare: 0.5 },
    lookAlikes,
    photoFindings: input.products.map((p) => ({ name: p.name, usable: 1, copies: 5 })),
    tillScans: null,
  });
  input.lookAlikes = lookAlikes.map((pair) => ({
    names: pair.names,
    thumbnails: [thumbnail(), thumbnail()],
    confusedPhoto: { thumbnail: thumbnail(), shows: pair.names[0], namedAs: pair.names[1] },
    advice: pair.advice,
  }));
  input.skipped = Array.from({ length: MOST_IMAGES }, (_, i) => ({
    product: name(i % products),
    photo: `asset ${id(i)}`,
    reason: name(i),
  }));
  // Up to two a product entry (ignored, merged, no "images" array), of the 500 entries a manifest may have.
  input.warnings = Array.from({ length: 1000 }, (_, i) => `product ${id(i)} is listed more than once ${name(i)}`);
  return input;
}

describe('report.html', () => {
  it("says in the model's own words what the till will do, per product and in all", async () => {
    const input = await madeUpReport(4, 3);
    const html = renderReport(input);
    const { quality } = input.metadata;
    for (const text of [quality.headline, quality.explanation, ...quality.advice])
      assert.ok(html.includes(escapeHtml(text)), text);
    assert.match(html, /At the till, expect about 4 in 10 scans of these products to be named/);
    assert.match(
      html,
      /<td class="num">1 of 2<\/td><td class="num">about 9 in 10<\/td><td><span class="good">usually named/,
    );
    assert.match(
      html,
      /<td class="num">2 of 2<\/td><td class="num">about 2 in 10<\/td><td><span class="poor">seldom named/,
    );
    assert.match(
      html,
      /<h1>What this model will recognise<\/h1>\n<p class="subtitle">4 products, trained 2026-12-03 10:00 UTC \(shop\)/,
    );
    assert.match(html, /recipe<\/th><td>a linear softmax head, L2 penalty 2 divided by the products/);
    assert.match(
      html,
      /time per stage<\/th><td>embedding 1\.2 s, training 0\.5 s, exporting 0\.3 s \(up to this report\)/,
    );
    assert.match(
      html,
      /<h2>Warnings<\/h2><ul class="advice"><li>trained without the negative bank: it could not be had/,
    );
    assert.match(html, /Products that look alike/);
    assert.match(html, /taken for/);
    assert.match(html, /training id<\/th><td>training-1/);
  });

  it('escapes every text from the job, so a product named like markup shows as text', async () => {
    const input = await madeUpReport(3, 2);
    input.products[0].name = '</td><script>alert("x")</script>';
    input.metadata.labelNames[0] = input.products[0].name;
    input.skipped.push({ product: '<b>Soap</b>', photo: 'a\'b".jpg', reason: '<i>bad</i>' });
    const html = renderReport(input);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /<b>Soap|<i>bad/);
    assert.match(html, /&#60;\/td&#62;&#60;script&#62;alert\(&#34;x&#34;\)&#60;\/script&#62;/);
    assert.equal(escapeHtml(`<>&"'`), '&#60;&#62;&#38;&#34;&#39;');
  });

  it('fetches nothing: its only URLs are inline images', async () => {
    const html = renderReport(await madeUpReport(5, 4));
    const urls = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    assert.ok(urls.length > 0);
    for (const url of urls) assert.match(url, /^data:image\/jpeg;base64,/);
    assert.doesNotMatch(html, /@import|url\(|<link|<script/);
  });

  it('stays under MAX_REPORT_BYTES for the largest input any manifest can make, with any number of products', async () => {
    const sizes: string[] = [];
    for (const products of [2, 3, 20, MAX_HEAT_MAP_PRODUCTS, MAX_HEAT_MAP_PRODUCTS + 1, 200, 500]) {
      const html = renderReport(await largestReportInput(products));
      const bytes = Buffer.byteLength(html);
      sizes.push(`${products}: ${bytes}`);
      assert.ok(bytes < MAX_REPORT_BYTES, `${products} products: ${bytes} bytes`);
      assert.doesNotMatch(html, /<<|"{3}/, 'every text escaped');
    }
    console.log(`largest report by products: ${sizes.join(', ')} bytes`);
  });

  it('shortens names and lists the first photos left out and warnings, with how many more', async () => {
    const input = await largestReportInput(3);
    const html = renderReport(input);
    assert.match(html, /<td class="name">(&#60;){40}…<div class="id">(&#34;){40}…<\/div><\/td>/);
    assert.match(html, /and 49950 more photos left out, not listed here\./);
    assert.match(html, /<li>and 980 more warnings<\/li>/);
    assert.equal(html.match(/<tr><td>(&#60;){40}…<\/td><td>asset/g)?.length, 50);
  });

  it('leaves the heat map out past a size, and names a base model read from a local path so', async () => {
    const input = await madeUpReport(MAX_HEAT_MAP_PRODUCTS + 1, 1);
    input.metadata.baseModel.url = null;
    const html = renderReport(input);
    assert.match(html, /Left out for more than 60 products/);
    assert.match(html, /a local copy \(weights sha256/);
  });
});
