/** Test support: report.html's input for a made-up shop, with rendered thumbnails. */
import { thumbnailJpeg } from '../../src/dataset/preprocess';
import { describeQuality } from '../../src/export/model-quality';
import type { ReportInput } from '../../src/export/report';
import { productLook, renderPhoto, scene } from './rendered-photos';

/**
 * `products` made-up products with `photos` photos each: products 0 and 1 look alike, every other product after the
 * first two is named at the till half the time or less, one photo of each product was left out.
 */
export async function madeUpReport(products: number, photos: number): Promise<ReportInput> {
  const names = Array.from({ length: products }, (_, i) => `Product ${i + 1}`);
  const thumbnails = await Promise.all(
    names.map(async (name) => thumbnailJpeg(await renderPhoto(productLook(name), scene(0), 224))),
  );
  const figures = names.map((name, i) => ({
    name,
    photos,
    scans: 2,
    namedRight: i < 2 ? 1 : 2,
    atTill: i < 2 ? 0.9 : 0.2,
  }));
  const recognition = {
    threshold: 0.9,
    logitScale: 1.5,
    targetFalseAccept: 0.02,
    unknownShare: 0.1,
    estimatedCorrectAccept: 0.42,
    estimatedFalseAccept: 0.015,
    method: 'logit scale chosen by 4-fold cross-validation',
    crossValidation: { folds: 4, knownScans: 10, unknownScans: 20, correctAccept: 0.5, falseAccept: 0.01 },
    negativeBank: { photos: 644, classesLeftOut: [] },
    lookAlikes: [
      {
        products: ['p1', 'p2'] as [string, string],
        names: [names[0], names[1]] as [string, string],
        confusions: 2,
        advice: `${names[0]} and ${names[1]} look alike: add photos that show the difference`,
      },
    ],
    advice: [`${names[products - 1]} has only ${photos} usable photos: add more`],
    tillScans: null,
  };
  const confusion = names.map((_, i) => names.map((__, j) => (i === j ? photos - 1 : i + j === 1 ? 1 : 0)));
  return {
    metadata: {
      trainingId: 'training-1',
      trainedAt: new Date('2026-12-03T10:00:00Z'),
      modelName: 'shop',
      labels: names.map((_, i) => `p${i + 1}`),
      labelNames: names,
      imageCount: products * photos,
      tfjsVersion: '4.22.0',
      metrics: {
        validationAccuracy: 0.8,
        validationImages: products * photos,
        perClassAccuracy: {},
        confusionMatrix: confusion,
        headIterations: 17,
        secondsPerStage: { embedding: 1.234, training: 0.5, exporting: 0.25 },
      },
      recognition,
      quality: describeQuality({
        products: figures,
        photos: products * photos,
        till: { named: 0.42, wrong: 0.015, unknownShare: 0.1 },
        lookAlikes: recognition.lookAlikes,
        photoFindings: [{ name: names[products - 1], usable: photos, copies: 0 }],
        tillScans: null,
      }),
      recipe: { kind: 'linear', l2: 2, description: 'a linear softmax head, L2 penalty 2 divided by the products' },
      inputRange: 'tm',
      baseModel: { url: 'https://example.invalid/model.json', sha256: 'e159deb3' },
    },
    products: figures.map((figure, i) => ({
      ...figure,
      id: `p${i + 1}`,
      thumbnail: thumbnails[i],
      photosSkipped: 1,
    })),
    lookAlikes: [
      {
        names: [names[0], names[1]],
        thumbnails: [thumbnails[0], thumbnails[1]],
        confusedPhoto: thumbnails[0] && { thumbnail: thumbnails[0], shows: names[0], namedAs: names[1] },
        advice: `${names[0]} and ${names[1]} look alike: add photos that show the difference`,
      },
    ],
    skipped: names.map((name, i) => ({ product: name, photo: `photo-${i}.jpg`, reason: 'could not be decoded' })),
    warnings: ['trained without the negative bank: it could not be had'],
  };
}
