/** Test support: what an exported model, read back from its files, predicts for photos preprocessed as the trainer does. */
import { promises as fs } from 'node:fs';
import type * as TF from '@tensorflow/tfjs';
import { preprocessImage } from '../../src/dataset/preprocess';
import { loadTensorflow } from '../../src/training/ml/backend';
import { loadLayersModelFromFile } from '../../src/training/ml/model-files';

/** The model's probabilities for each photo file, in order. */
export async function predictPhotos(modelJsonPath: string, files: string[]): Promise<Float32Array[]> {
  const { tf } = await loadTensorflow('auto');
  const model = await loadLayersModelFromFile(tf, modelJsonPath);
  try {
    const predictions: Float32Array[] = [];
    for (const file of files) {
      const { pixels } = await preprocessImage(await fs.readFile(file));
      predictions.push(
        tf.tidy(() => (model.predict(tf.tensor4d(pixels, [1, 224, 224, 3])) as TF.Tensor).dataSync() as Float32Array),
      );
    }
    return predictions;
  } finally {
    model.dispose();
  }
}
