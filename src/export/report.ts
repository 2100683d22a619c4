/**
 * report.html: what a trained model will do, for the shop owner first and the operator second, in one
 * self-contained page (inline CSS, thumbnails as data: URIs; no script, no font, nothing fetched). Pure: the caller
 * hands it the model's metadata and the thumbnails. Every text from a job (product names and ids, photo names,
 * reasons) is shortened and escaped, and every list is bounded, so that any manifest the service accepts makes a
 * report under MAX_REPORT_BYTES (`test/hostile.e2e.test.ts` trains the largest).
 */
import { clipped } from '../common/validation';
import {
  atTillWords,
  count,
  crossValidationCount,
  VERDICT_WORDS,
  verdictOf,
  shownName,
  type ProductFigures,
  type Verdict,
} from './model-quality';
import type { MetadataInput } from './teachable-machine-format';

export const REPORT_FILE = 'report.html';

/** Past this many products the confusion heat map is left out (its cells grow with the square of the count). */
export const MAX_HEAT_MAP_PRODUCTS = 60;
/** The largest report any accepted manifest can make (about 470 kB of text at most, and the thumbnails). */
export const MAX_REPORT_BYTES = 1_000_000;
/** What every thumbnail together may take as base64 in the page (each is a quarter larger than its JPEG). */
const THUMBNAILS_BYTES = 450_000;
/** The photos left out and the warnings listed; the rest are counted. */
const MAX_LISTED_SKIPS = 50;
const MAX_LISTED_WARNINGS = 20;
/** A reason a photo was left out, and a warning, as shown: at most this many characters (they may quote a job). */
const SHOWN_REASON_LENGTH = 120;
const SHOWN_WARNING_LENGTH = 400;

/**
 * The largest JPEG each thumbnail may be, so that the page's pictures fit THUMBNAILS_BYTES: one a product, and three
 * a look-alike pair (both products and a photo taken for the other).
 */
export function thumbnailMaxBytes(products: number, lookAlikePairs: number): number {
  return Math.floor((THUMBNAILS_BYTES * 3) / 4 / Math.max(1, products + 3 * lookAlikePairs));
}

/** A product's row: its figures (model-quality.ts), its id, a thumbnail and its photos left out. */
export interface ReportProduct extends ProductFigures {
  id: string;
  /** A JPEG of one of its photos (a thumbnail), or null. */
  thumbnail: Uint8Array | null;
  photosSkipped: number;
}

export interface ReportLookAlike {
  names: [string, string];
  thumbnails: [Uint8Array | null, Uint8Array | null];
  /** One photo of the first product that cross-validation named as the second (or the other way round). */
  confusedPhoto: { thumbnail: Uint8Array; shows: string; namedAs: string } | null;
  advice: string;
}

export interface ReportInput {
  metadata: MetadataInput;
  products: ReportProduct[];
  lookAlikes: ReportLookAlike[];
  skipped: { product: string; photo: string; reason: string }[];
  /** The training's warnings beside its advice: the negative bank's absence, products merged or ignored. */
  warnings: string[];
}

export function renderReport({ metadata, products, lookAlikes, skipped, warnings }: ReportInput): string {
  const { quality } = metadata;
  const title = 'What this model will recognise';
  const sections = [
    `<h1>${title}</h1>`,
    `<p class="subtitle">${escapeHtml(subtitle(metadata))}</p>`,
    `<p class="lead">${escapeHtml(quality.headline)}</p>`,
    `<p>${escapeHtml(quality.explanation)}</p>`,
    section('What to do next', adviceList(quality.advice)),
    warnings.length ? section('Warnings', warningList(warnings)) : '',
    section('Products', productTable(products)),
    lookAlikes.length ? section('Products that look alike', lookAlikes.map(lookAlikeCard).join('')) : '',
    section('Which product was taken for which', heatMap(metadata, products)),
    section(`Photos left out (${skipped.length})`, skippedList(skipped)),
    section('About this model', identity(metadata)),
  ];
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${title}</title><style>${STYLE}</style></head>\n<body>\n` +
    sections.filter(Boolean).join('\n') +
    '\n</body></html>\n'
  );
}

/** Which model this is: its products, when it was trained, and its name (the output folder or the channel). */
function subtitle(metadata: MetadataInput): string {
  return (
    `${count(metadata.labels.length, 'product')}, trained ${metadata.trainedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC` +
    ` (${shownName(metadata.modelName)})`
  );
}

function section(heading: string, body: string): string {
  return `<section><h2>${escapeHtml(heading)}</h2>${body}</section>`;
}

function adviceList(advice: string[]): string {
  return `<ul class="advice">${advice.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>`;
}

/** The first MAX_LISTED_WARNINGS warnings, each shortened (a warning may quote a product id), then how many more. */
function warningList(warnings: string[]): string {
  const listed = warnings.slice(0, MAX_LISTED_WARNINGS).map((w) => clipped(w, SHOWN_WARNING_LENGTH));
  const rest = warnings.length - listed.length;
  return adviceList(rest ? [...listed, `and ${count(rest, 'more warning')}`] : listed);
}

const VERDICT_CLASSES: Record<Verdict, string> = {
  usually: 'good',
  sometimes: 'fair',
  seldom: 'poor',
  unmeasured: 'unknown',
};

function productTable(products: ReportProduct[]): string {
  const rows = products.map((p) => {
    const verdict = verdictOf(p);
    return (
      `<tr><td>${image(p.thumbnail)}</td><td class="name">${shown(p.name)}` +
      (p.name !== p.id ? `<div class="id">${shown(p.id)}</div>` : '') +
      `</td><td class="num">${p.photos}</td><td class="num">${p.photosSkipped}</td>` +
      `<td class="num">${crossValidationCount(p)}</td><td class="num">${atTillWords(p)}</td>` +
      `<td><span class="${VERDICT_CLASSES[verdict]}">${VERDICT_WORDS[verdict]}</span></td></tr>`
    );
  });
  return (
    '<table class="products"><thead><tr><th></th><th>product</th><th>photos used</th><th>left out</th>' +
    '<th>held-out photos named right (cross-validation)</th><th>scans named at the till (expected)</th>' +
    '<th>at the till</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

function lookAlikeCard(pair: ReportLookAlike): string {
  const confused = pair.confusedPhoto
    ? `<figure>${image(pair.confusedPhoto.thumbnail)}<figcaption>a photo of ` +
      `${shown(pair.confusedPhoto.shows)}, taken for ${shown(pair.confusedPhoto.namedAs)}</figcaption></figure>`
    : '';
  return (
    `<div class="pair"><figure>${image(pair.thumbnails[0])}<figcaption>${shown(pair.names[0])}` +
    `</figcaption></figure><figure>${image(pair.thumbnails[1])}<figcaption>` +
    `${shown(pair.names[1])}</figcaption></figure>${confused}<p>${escapeHtml(pair.advice)}</p></div>`
  );
}

/**
 * The cross-validation's confusion matrix as a heat map: rows are the products shown, columns what they were named.
 * Products are numbered: a cell names neither (its row and column do), as up to 3,600 cells would repeat them.
 */
function heatMap(metadata: MetadataInput, products: ReportProduct[]): string {
  const matrix = metadata.metrics.confusionMatrix;
  if (products.length > MAX_HEAT_MAP_PRODUCTS || !matrix)
    return `<p>Left out for more than ${MAX_HEAT_MAP_PRODUCTS} products: the look-alikes above list the pairs.</p>`;
  const rows = matrix.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((count, j) => {
      if (!count) return '<td></td>';
      const share = (count / total).toFixed(2);
      const colour = i === j ? `rgba(46,125,50,${share})` : `rgba(198,40,40,${share})`;
      return `<td style="background:${colour}">${count}</td>`;
    });
    return `<tr><th>${i + 1}. ${shown(products[i].name)}</th>${cells.join('')}</tr>`;
  });
  const columns = products.map((p, j) => `<th title="${shown(p.name)}">${j + 1}</th>`).join('');
  return (
    "<p>Each row is a product; each cell counts its cross-validation photos named as the column's product " +
    '(columns numbered as the rows). Green on the diagonal is right; red elsewhere is a mix-up.</p>' +
    `<table class="heat"><thead><tr><th></th>${columns}</tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}

/** The first MAX_LISTED_SKIPS photos left out, then how many more. */
function skippedList(skipped: ReportInput['skipped']): string {
  if (!skipped.length) return '<p>None: every photo was used.</p>';
  const rest = skipped.length - MAX_LISTED_SKIPS;
  return (
    '<table><thead><tr><th>product</th><th>photo</th><th>why</th></tr></thead><tbody>' +
    skipped
      .slice(0, MAX_LISTED_SKIPS)
      .map(
        (s) =>
          `<tr><td>${shown(s.product)}</td><td>${shown(s.photo)}</td>` +
          `<td>${escapeHtml(clipped(s.reason, SHOWN_REASON_LENGTH))}</td></tr>`,
      )
      .join('') +
    '</tbody></table>' +
    (rest > 0 ? `<p>and ${count(rest, 'more photo')} left out, not listed here.</p>` : '')
  );
}

function identity(metadata: MetadataInput): string {
  const stages = Object.entries(metadata.metrics.secondsPerStage)
    // The report is written within the exporting stage: its time is the stage's so far.
    .map(
      ([stage, seconds]) =>
        `${escapeHtml(stage)} ${seconds.toFixed(1)} s${stage === 'exporting' ? ' (up to this report)' : ''}`,
    )
    .join(', ');
  const base = metadata.baseModel.url ?? 'a local copy';
  const rows: [string, string][] = [
    ['training id', metadata.trainingId],
    ['trained at', metadata.trainedAt.toISOString()],
    ['base model', `${base} (weights sha256 ${metadata.baseModel.sha256})`],
    ['recipe', String(metadata.recipe.description ?? JSON.stringify(metadata.recipe))],
    ['recognition gate', metadata.recognition.method],
    ['time per stage', stages],
  ];
  return `<table class="about">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

/** A thumbnail; its product's name is always beside it, so it has no text of its own. */
function image(jpeg: Uint8Array | null): string {
  if (!jpeg) return '<div class="thumb none"></div>';
  return `<img class="thumb" alt="" src="data:image/jpeg;base64,${Buffer.from(jpeg).toString('base64')}">`;
}

/** A name from a job (a product's, a photo's, an id) as the report shows it: shortened, then escaped. */
function shown(name: string): string {
  return escapeHtml(shownName(name));
}

/** Text as HTML: every character that could open markup or end an attribute is an entity. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:26px;margin:0 0 8px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.lead{font-size:17px}.subtitle{color:#555;margin:0 0 12px}table{border-collapse:collapse}td,th{padding:4px 8px;text-align:left;vertical-align:middle}
.products td,.products th{border-bottom:1px solid #eee}.num{text-align:right}.id{color:#777;font-size:12px}
.thumb{width:64px;height:64px;object-fit:cover;border-radius:4px;display:block}.none{background:#eee}
.good{color:#2e7d32;font-weight:600}.fair{color:#8d6e00;font-weight:600}.poor{color:#c62828;font-weight:600}.unknown{color:#777}
.pair{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap;margin:8px 0 16px}.pair p{flex-basis:100%;margin:0}
figure{margin:0;width:96px;font-size:12px}figure .thumb{width:96px;height:96px}
.heat td{width:22px;height:22px;text-align:center;font-size:11px;border:1px solid #f0f0f0;padding:0}
.heat th{font-size:12px;font-weight:normal;white-space:nowrap;max-width:220px;overflow:hidden;text-overflow:ellipsis}
.about th{color:#555;font-weight:600;white-space:nowrap}.about td{word-break:break-all}
@media print{body{margin:0;max-width:none}section{break-inside:avoid}}
`;
