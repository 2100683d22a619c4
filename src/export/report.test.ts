/** Unit tests of report.html's renderer: plain words first, every text escaped, nothing fetched. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { madeUpReport } from '../../test/support/made-up-report';
import { escapeHtml, MAX_HEAT_MAP_PRODUCTS, renderReport } from './report';

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

  it('leaves the heat map out past a size, and names a base model read from a local path so', async () => {
    const input = await madeUpReport(MAX_HEAT_MAP_PRODUCTS + 1, 1);
    input.metadata.baseModel.url = null;
    const html = renderReport(input);
    assert.match(html, /Left out for more than 60 products/);
    assert.match(html, /a local copy \(weights sha256/);
  });
});
