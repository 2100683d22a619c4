/** Teachable Machine's truncated MobileNet as a tfjs model: the exported model's first half. */
import type * as TF from '@tensorflow/tfjs';
import { EMBEDDING_LAYER } from './base-model';
import { EMBEDDING_SIZE, INPUT_SHAPE } from '../../config/model-shape';
import { loadLayersModelFromFile } from './model-files';
import { splitRows, stackRows } from './vectors';

/**
 * Teachable Machine's truncated MobileNet: Sequential[ base model cut at out_relu, GlobalAveragePooling2D ].
 * The same object becomes the first half of the exported model, so training and inference share it exactly.
 */
export async function loadFeatureExtractor(tf: typeof TF, modelJsonPath: string): Promise<TF.Sequential> {
  const base = await loadLayersModelFromFile(tf, modelJsonPath);
  const cut = base.getLayer(EMBEDDING_LAYER).output as TF.SymbolicTensor;
  const truncated = tf.model({ inputs: base.inputs, outputs: cut });
  const extractor = tf.sequential();
  extractor.add(truncated);
  extractor.add(tf.layers.globalAveragePooling2d({}));
  return extractor;
}

/** Embeds preprocessed images (224·224·3 floats each) in one forward pass. */
export function embedPixels(
  tf: typeof TF,
  extractor: { predict(x: TF.Tensor4D): TF.Tensor | TF.Tensor[] },
  images: Float32Array[],
): Float32Array[] {
  if (images.length === 0) return [];
  const output = tf.tidy(
    () => extractor.predict(tf.tensor4d(stackRows(images), [images.length, ...INPUT_SHAPE])) as TF.Tensor,
  );
  const flat = output.dataSync() as Float32Array;
  output.dispose();
  return splitRows(flat, EMBEDDING_SIZE);
}
