/**
 * Every sentence a person reads about a model's quality: the headline, what cross-validation measured and what the
 * till will do, what to do next (look-alikes and photo advice included), each product's verdict, and how figures are
 * written. The model card (model-card.ts) writes the statement once into metadata.json (`quality`); the CLI, the
 * demo, the job's status and report.html all show that statement, so they cannot disagree. Pure: figures in, plain
 * text out (report.html escapes it; names come from a job and are untrusted).
 */
import { clipped } from '../common/validation';
import { MIN_PHOTOS_PER_PRODUCT, type PhotoFinding } from '../training/advice';
import { CLIENT_THRESHOLD } from '../training/ml';

/** One product's figures, as the cross-validation and the gate measured them. */
export interface ProductFigures {
  name: string;
  /** Usable photos. */
  photos: number;
  /** Its cross-validation scans (held-out photos), and how many were named right among the shop's products. */
  scans: number;
  namedRight: number;
  /** Expected share of its scans at the till that are named (right); null when the till could not be measured. */
  atTill: number | null;
}

export interface QualityFigures {
  products: ProductFigures[];
  photos: number;
  /** The gate's estimates for real scans; null when cross-validation could not measure them. */
  till: { named: number; wrong: number; unknownShare: number } | null;
  /** Pairs of products cross-validation confused, most confused first. */
  lookAlikes: { names: [string, string] }[];
  /** Products with too few usable photos, or photos that copy another. */
  photoFindings: PhotoFinding[];
  /** What the till's confirmed scans measured (null: none were sent; the till's figures are then estimates). */
  tillScans: TillScanFigures | null;
}

export interface TillScanFigures {
  /** Scans of the shop's products: named right, named as another product. */
  ofProducts: number;
  namedRight: number;
  namedWrong: number;
  /** Scans confirmed as none of the products, and how many were named as one. */
  ofNone: number;
  namedAsProduct: number;
  /** Upper end of the 95 % interval of the share of all these scans named wrongly. */
  wrongUpTo: number;
  /** Where the unknown share comes from: the scans (those confirmed as none), or the job or setting. */
  unknownShareFrom: 'scans' | 'stated';
  /**
   * The scans taken since the channel's previous model was trained, as this model (held out) and that one name them
   * (null: no previous model, or no scan since).
   */
  sincePrevious: {
    trainingId: string;
    trainedAt: string;
    thisModel: ScanCounts;
    previousModel: ScanCounts;
  } | null;
}

/** Scans of the products named right and wrongly, and scans confirmed as none named as a product. */
export interface ScanCounts {
  ofProducts: number;
  namedRight: number;
  namedWrong: number;
  ofNone: number;
  namedAsProduct: number;
}

/** What a model will do, in words: the same text wherever it is shown. */
export interface ModelQuality {
  /** One or two sentences: what the till will name, how often wrongly, how many products are usually named. */
  headline: string;
  /** What cross-validation measured, and what the till will do instead. */
  explanation: string;
  /** What to do next; never empty (when nothing is needed, it says so). */
  advice: string[];
}

export type Verdict = 'usually' | 'sometimes' | 'seldom' | 'unmeasured';

/** A product is usually named at the till when it is expected to be named in about 6 scans of 10 or more… */
const USUALLY_IN_TEN = 6;
/** …and seldom named below about 3 in 10. Both compare the figure as it is shown (rounded to tenths). */
const SELDOM_IN_TEN = 3;
/** Cross-validation needs at least this many products: a quarter of them plays the products the shop does not sell. */
const MIN_PRODUCTS_TO_MEASURE = 3;
/** At most this many products are named in one piece of advice, and this many pieces of photo advice given. */
const NAMED_IN_ADVICE = 5;
const MAX_PHOTO_ADVICE = 50;
/** A product's name in the statement and the report: at most this many characters (a manifest allows 1,024). */
const SHOWN_NAME_LENGTH = 40;

/** A product's name (or any name from a job) as the statement and the report show it. */
export function shownName(name: string): string {
  return clipped(name, SHOWN_NAME_LENGTH);
}

export function verdictOf(product: ProductFigures): Verdict {
  if (product.atTill === null) return 'unmeasured';
  const inTen = Math.round(product.atTill * 10);
  return inTen >= USUALLY_IN_TEN ? 'usually' : inTen >= SELDOM_IN_TEN ? 'sometimes' : 'seldom';
}

export const VERDICT_WORDS: Record<Verdict, string> = {
  usually: 'usually named',
  sometimes: 'sometimes named, else the barcode',
  seldom: 'seldom named: the till asks for the barcode',
  unmeasured: 'not measured',
};

export function describeQuality(figures: QualityFigures): ModelQuality {
  const { products, till } = figures;
  const total = `${count(products.length, 'product')} from ${count(figures.photos, 'photo')}`;
  const usually = products.filter((p) => verdictOf(p) === 'usually').length;
  const headline = till
    ? `${total}. At the till, expect ${aboutInTen(till.named)} scans of these products to be named, and a wrong ` +
      `product ${timesInHundred(till.wrong)} scans (${unknownWords(till.unknownShare)}); for the rest the till ` +
      `asks for the barcode. ${usually} of ${products.length} products ${usually === 1 ? 'is' : 'are'} usually named.`
    : `${total}. What the till will do could not be measured (${unmeasuredReason(products)}), so the model is ` +
      `cautious: expect the till to ask for the barcode often.`;
  return { headline, explanation: explanation(figures), advice: advice(figures) };
}

/** Why cross-validation could not measure the till. */
function unmeasuredReason(products: ProductFigures[]): string {
  return products.length < MIN_PRODUCTS_TO_MEASURE
    ? `that takes at least ${MIN_PRODUCTS_TO_MEASURE} products: some play the things the shop does not sell`
    : 'every product needs at least 3 photos';
}

function explanation({ products, till, tillScans }: QualityFigures): string {
  const scans = products.reduce((sum, p) => sum + p.scans, 0);
  const right = products.reduce((sum, p) => sum + p.namedRight, 0);
  const measured = tillScans ? ` ${scanSentence(tillScans)}` : '';
  if (!scans) return `No photo could be held out to check the model: every product needs at least 3 photos.${measured}`;
  const crossValidation =
    `Cross-validation named ${right} of ${scans} held-out photos right${scans >= 20 ? ` (${percent(right / scans)})` : ''}: ` +
    `each was named, among the shop's products, by a model trained without it.`;
  if (!till || tillScans) return `${crossValidation}${measured}`;
  return (
    `${crossValidation} Those photos were taken on the same occasions as the others; scans at the till come on ` +
    `other days, in other light, and the till names a product only when the model is at least ` +
    `${percent(CLIENT_THRESHOLD)} sure: expect ${aboutInTen(till.named)} of them to be named (an estimate: no ` +
    `scan confirmed at the till has been sent yet). The model assumes that up to ${Math.round(till.unknownShare * 100)} ` +
    `in 100 scans show something the shop does not sell: a backend that knows its till's mix states it with each ` +
    `job, and the scans the cashiers confirm as none measure it.`
  );
}

/** What the till's confirmed scans measured, as counts. */
function scanSentence(scans: TillScanFigures): string {
  const all = scans.ofProducts + scans.ofNone;
  const wrong = scans.namedWrong + scans.namedAsProduct;
  const parts = [
    ...(scans.ofProducts
      ? [
          `${scans.namedRight} of ${count(scans.ofProducts, 'scan')} of these products named right and ` +
            `${scans.namedWrong} as another product`,
        ]
      : []),
    ...(scans.ofNone ? [`${scans.namedAsProduct} of ${scans.ofNone} scans of other things named as a product`] : []),
  ];
  return (
    `Measured on ${count(all, 'scan')} the till's cashiers confirmed, each judged at the till's threshold by a model ` +
    `that did not learn from it: ${parts.join('; ')} (${wrong} wrong in ${all}: at most ` +
    `${percent(scans.wrongUpTo)} of scans like these are named wrongly, with 95 % confidence).` +
    (scans.sincePrevious ? ` ${previousSentence(scans.sincePrevious)}` : '')
  );
}

/** The scans taken since the previous model, as this model and that one named them. */
function previousSentence(since: NonNullable<TillScanFigures['sincePrevious']>): string {
  const { thisModel, previousModel } = since;
  const counts = (c: ScanCounts, verb: string) =>
    [
      ...(c.ofProducts ? [`${verb} ${c.namedRight} right and ${c.namedWrong} wrongly`] : []),
      ...(c.ofNone ? [`${c.namedAsProduct} of the other things as a product`] : []),
    ].join(', ');
  const all = thisModel.ofProducts + thisModel.ofNone;
  const what = [
    ...(thisModel.ofProducts ? [`${count(thisModel.ofProducts, 'scan')} of these products`] : []),
    ...(thisModel.ofNone ? [`${thisModel.ofNone} of other things`] : []),
  ].join(' and ');
  return (
    `Of the ${count(all, 'scan')} taken since the last model (trained ${since.trainedAt.slice(0, 10)}; ${what}), this ` +
    `model ${counts(thisModel, 'names')}; the last model ${counts(previousModel, 'named')}.`
  );
}

function advice({ products, till, lookAlikes, photoFindings }: QualityFigures): string[] {
  const raise: string[] = [];
  if (till) {
    const weak = products
      .filter((p) => verdictOf(p) === 'sometimes' || verdictOf(p) === 'seldom')
      .sort((a, b) => a.atTill! - b.atTill!);
    if (weak.length || Math.round(till.named * 10) < USUALLY_IN_TEN) {
      const which =
        !weak.length || weak.length === products.length
          ? 'each product'
          : `${listed(weak.map((p) => p.name))}, the product${weak.length === 1 ? '' : 's'} the till will name least`;
      raise.push(
        `To have more scans named, add about 10 photos of ${which}, taken the way the till sees them (at the ` +
          `till, in its light, on other days, held as a cashier holds them). More photos like the ones already ` +
          `taken add little.`,
      );
    }
  } else if (products.length < MIN_PRODUCTS_TO_MEASURE) {
    raise.push(
      `Add products: with at least ${MIN_PRODUCTS_TO_MEASURE}, the model can be checked against products it does ` +
        `not know, and what the till will do can be measured.`,
    );
  } else {
    raise.push('Add photos until every product has at least 3 (5 to 20 is typical), so that the till can be measured.');
  }
  const all = [...raise, ...lookAlikes.map((pair) => lookAlikeAdvice(pair.names)), ...photoAdvice(photoFindings)];
  return all.length
    ? all
    : ['Nothing: every product has enough photos, none looks like another, and most scans will be named.'];
}

/** What to do about two products that cross-validation confused. */
export function lookAlikeAdvice(names: [string, string]): string {
  const [a, b] = names.map(shownName);
  return `${a} and ${b} look alike: add photos that show the difference, or sell them by barcode`;
}

/** What to do about products with few photos, or photos that copy another (at most MAX_PHOTO_ADVICE). */
export function photoAdvice(findings: PhotoFinding[]): string[] {
  const advice = findings.flatMap(({ name: fullName, usable, copies }) => {
    const name = shownName(fullName);
    return [
      ...(usable < MIN_PHOTOS_PER_PRODUCT
        ? [
            `${name} has only ${count(usable, 'usable photo')}: add ${MIN_PHOTOS_PER_PRODUCT - usable} or more, ` +
              `from other angles and in the light at the till`,
          ]
        : []),
      ...(copies > 0
        ? [
            `${name}: ${copies === 1 ? '1 photo is a copy (or near copy)' : `${copies} photos are copies (or near copies)`} ` +
              `of another of its photos and add${copies === 1 ? 's' : ''} nothing: take photos from other angles instead`,
          ]
        : []),
    ];
  });
  return advice.length <= MAX_PHOTO_ADVICE
    ? advice
    : [
        ...advice.slice(0, MAX_PHOTO_ADVICE),
        `and ${advice.length - MAX_PHOTO_ADVICE} more pieces of advice like these`,
      ];
}

/**
 * The statement as lines of text for a terminal, with the job's other warnings (the negative bank's absence, products
 * merged or ignored) after the advice; the advice is among a job's warnings too, and is shown once.
 */
export function qualityLines(quality: ModelQuality, warnings: string[] = []): string[] {
  return [
    quality.headline,
    quality.explanation,
    '',
    'What to do next:',
    ...quality.advice.map((a) => `  - ${a}`),
    ...warnings.filter((w) => !quality.advice.includes(w)).map((w) => `Warning: ${w}`),
  ];
}

/** "3 products", "1 photo". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A share as coarsely as the till's estimates deserve: "about 4 in 10", "fewer than 1 in 10", "nearly all". */
export function aboutInTen(share: number): string {
  const n = Math.round(share * 10);
  return n === 0 ? 'fewer than 1 in 10' : n === 10 ? 'nearly all' : `about ${n} in 10`;
}

/** The unknown share the gate was made for, as a condition: "when 10 in 100 scans show something…". */
function unknownWords(share: number): string {
  const n = Math.round(share * 100);
  return n === 0
    ? 'when no scan shows something the shop does not sell'
    : `when ${n} in 100 scans show something the shop does not sell`;
}

/** How often a rare event happens: "less than once in 100", "about once in 100", "about 3 times in 100". */
function timesInHundred(share: number): string {
  const n = Math.round(share * 100);
  return n === 0 ? 'less than once in 100' : n === 1 ? 'about once in 100' : `about ${n} times in 100`;
}

/** A share as a whole percentage: "36 %". */
export function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}

/** A product's cross-validation as a count: "3 of 3"; "none held out" without scans. */
export function crossValidationCount(product: ProductFigures): string {
  return product.scans ? `${product.namedRight} of ${product.scans}` : 'none held out';
}

/** A product's expected share of scans named at the till, coarsely ("about 4 in 10"), or "not measured". */
export function atTillWords(product: ProductFigures): string {
  return product.atTill === null ? 'not measured' : aboutInTen(product.atTill);
}

/** Up to NAMED_IN_ADVICE names, then how many more. */
function listed(names: string[]): string {
  const shown = names.slice(0, NAMED_IN_ADVICE).map(shownName);
  const rest = names.length - shown.length;
  if (rest) return `${shown.join(', ')} and ${rest} more`;
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}` : shown[0];
}
