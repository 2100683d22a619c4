/**
 * Every sentence a person reads about a model's quality: the headline, what cross-validation measured and why the
 * till names fewer, what to do next, each product's verdict, and how figures are written. The trainer writes the
 * model's statement once into metadata.json (`quality`); the CLI, the demo, the job's status and report.html all show
 * that statement, so they cannot disagree. Pure: figures in, plain text out (report.html escapes it; names come
 * from a job and are untrusted).
 */

/** One product's figures, as the cross-validation and the gate measured them. */
export interface ProductFigures {
  name: string;
  /** Usable photos. */
  photos: number;
  /** Its cross-validation scans (held-out photos), and how many were named right among the shop's products. */
  scans: number;
  namedRight: number;
  /** Expected share of its scans at the till that are named (right); null when it had no cross-validation scan. */
  atTill: number | null;
}

export interface QualityFigures {
  products: ProductFigures[];
  photos: number;
  /** The gate's estimates for real scans; null when there were too few photos to cross-validate. */
  till: { named: number; wrong: number; unknownShare: number } | null;
  /** Advice already worded by the training (look-alikes, too few photos, copies), most important first. */
  advice: string[];
}

/** What a model will do, in words: the same text wherever it is shown. */
export interface ModelQuality {
  /** One or two sentences: what the till will name, how often wrongly, how many products are usually named. */
  headline: string;
  /** What cross-validation measured, and why the till names fewer. */
  explanation: string;
  /** What to do next; never empty (when nothing is needed, it says so). */
  advice: string[];
}

export type Verdict = 'usually' | 'sometimes' | 'seldom' | 'unmeasured';

/** A product is usually named at the till when it is expected to be named at least this often… */
export const USUALLY_NAMED = 0.6;
/** …and seldom named below this. */
export const SELDOM_NAMED = 0.3;
/** The web app names a product when the model gives it at least this probability (ml/gate.ts's CLIENT_THRESHOLD). */
const CLIENT_PROBABILITY = '90 %';
/** At most this many products are named in one piece of advice. */
const NAMED_IN_ADVICE = 5;

export function verdictOf(product: ProductFigures): Verdict {
  if (product.atTill === null) return 'unmeasured';
  return product.atTill >= USUALLY_NAMED ? 'usually' : product.atTill >= SELDOM_NAMED ? 'sometimes' : 'seldom';
}

export const VERDICT_WORDS: Record<Verdict, string> = {
  usually: 'usually named',
  sometimes: 'sometimes named, else the barcode',
  seldom: 'seldom named: the till asks for the barcode',
  unmeasured: 'not measured (fewer than 3 photos)',
};

export function describeQuality(figures: QualityFigures): ModelQuality {
  const { products, till } = figures;
  const total = `${count(products.length, 'product')} from ${count(figures.photos, 'photo')}`;
  const usually = products.filter((p) => verdictOf(p) === 'usually').length;
  const headline = till
    ? `${total}. At the till, expect ${aboutInTen(till.named)} scans of these products to be named, and a wrong ` +
      `product ${timesInHundred(till.wrong)} scans (when ${inHundred(till.unknownShare)} scans show something ` +
      `the shop does not sell); for the rest the till asks for the barcode. ` +
      `${usually} of ${products.length} products ${usually === 1 ? 'is' : 'are'} usually named.`
    : `${total}. There were too few photos to measure what the till will do (a product needs at least 3), so the ` +
      `model is cautious: expect the till to ask for the barcode often.`;
  return { headline, explanation: explanation(figures), advice: advice(figures) };
}

function explanation({ products, till }: QualityFigures): string {
  const scans = products.reduce((sum, p) => sum + p.scans, 0);
  const right = products.reduce((sum, p) => sum + p.namedRight, 0);
  if (!scans) return 'No photo could be held out to check the model: every product needs at least 3 photos.';
  return (
    `Cross-validation named ${right} of ${scans} held-out photos right${scans >= 20 ? ` (${percent(right / scans)})` : ''}: ` +
    `each was named, among the shop's products, by a model trained without it. ` +
    (till
      ? `Those photos were taken on the same occasions as the others; scans at the till come on other days, in ` +
        `other light, and the till names a product only when the model is at least ${CLIENT_PROBABILITY} sure, so ` +
        `it names fewer (${aboutInTen(till.named)}).`
      : '')
  );
}

function advice({ products, till, advice: given }: QualityFigures): string[] {
  const weak = products
    .filter((p) => p.atTill !== null && p.atTill < USUALLY_NAMED)
    .sort((a, b) => a.atTill! - b.atTill!);
  const raise: string[] = [];
  if (till && (till.named < USUALLY_NAMED || weak.length)) {
    const fewest = Math.min(...(weak.length ? weak : products).map((p) => p.photos));
    const target = fewest < 10 ? 10 : 20;
    const which =
      !weak.length || weak.length === products.length
        ? 'every product'
        : `${listed(weak.map((p) => p.name))}, the product${weak.length === 1 ? '' : 's'} the till will name least`;
    raise.push(
      `To have more scans named, add photos of ${which}: enough for ${target} or more of each, taken the way the ` +
        `till sees them (at the till, in its light, on other days, held as a cashier holds them). More photos like ` +
        `the ones already taken add little.`,
    );
  }
  if (!till && products.some((p) => p.photos < 3))
    raise.push('Add photos until every product has at least 3 (5 to 20 is typical), so that the till can be measured.');
  const all = [...raise, ...given];
  return all.length
    ? all
    : ['Nothing: every product has enough photos, none looks like another, and most scans will be named.'];
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

/** A share of scans per hundred: "10 in 100". */
function inHundred(share: number): string {
  return `${Math.round(share * 100)} in 100`;
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
  const shown = names.slice(0, NAMED_IN_ADVICE);
  const rest = names.length - shown.length;
  if (rest) return `${shown.join(', ')} and ${rest} more`;
  return shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}` : shown[0];
}
