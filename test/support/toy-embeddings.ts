/** Test support: toy embeddings, photos of classes clustered around random prototypes, for the head trainers' tests. */
import { EMBEDDING_SIZE } from '../../src/config/model-shape';
import { mulberry32, type TrainingSet } from '../../src/training/ml/training-set';

/** Photos of `classes` classes whose embeddings cluster around one random prototype per class; two views each. */
export function toySet(classes: number, photosPerClass: number, seed = 1): TrainingSet {
  const random = mulberry32(seed);
  const prototypes = Array.from({ length: classes }, () =>
    Float32Array.from({ length: EMBEDDING_SIZE }, () => (random() < 0.3 ? random() * 3 : 0)),
  );
  const rows = classes * photosPerClass * 2;
  const set: TrainingSet = {
    embeddings: new Float32Array(rows * EMBEDDING_SIZE),
    labels: new Int32Array(rows),
    photos: new Int32Array(rows),
    plain: new Uint8Array(rows),
    classCount: classes,
  };
  let row = 0;
  for (let c = 0; c < classes; c++) {
    for (let p = 0; p < photosPerClass; p++) {
      for (let view = 0; view < 2; view++, row++) {
        for (let f = 0; f < EMBEDDING_SIZE; f++)
          set.embeddings[row * EMBEDDING_SIZE + f] = Math.max(0, prototypes[c][f] + (random() - 0.5) * 1.5);
        set.labels[row] = c;
        set.photos[row] = c * photosPerClass + p;
        set.plain[row] = view === 0 ? 1 : 0;
      }
    }
  }
  return set;
}
