import type * as TF from '@tensorflow/tfjs';
import { decodeImage } from '../../dataset/preprocess';

/**
 * The shop's web app does not crop: it squashes the whole camera frame to 224×224 with tf.image.resizeBilinear and
 * divides by 255. This is that input, in the base model's range (x / 127 − 1, which is what a `unit` model's
 * rescaling layer turns x / 255 into).
 */
export async function webAppInput(tf: typeof TF, bytes: Uint8Array): Promise<Float32Array> {
  const { rgb, width, height } = await decodeImage(bytes);
  return tf.tidy(() => {
    const frame = tf.tensor3d(rgb, [height, width, 3], 'int32').toFloat();
    return tf.image.resizeBilinear(frame, [224, 224]).div(127).sub(1).dataSync() as Float32Array;
  });
}
