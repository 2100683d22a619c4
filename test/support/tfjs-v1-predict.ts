/**
 * Loads a model folder with TensorFlow.js 1.3.1 (the version @teachablemachine/image pins) and prints its predictions
 * for the inputs in a Float32 file. Runs in its own process: two tfjs versions cannot share one.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

async function main(modelDir: string, inputsFile: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('tfjs-v1');
  const modelJson = JSON.parse(readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const weights = readFileSync(path.join(modelDir, modelJson.weightsManifest[0].paths[0]));
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
    }),
  );
  const bytes = readFileSync(inputsFile);
  const inputs = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const count = inputs.length / (224 * 224 * 3);
  const output = model.predict(tf.tensor4d(inputs, [count, 224, 224, 3]));
  process.stdout.write(
    JSON.stringify({
      version: tf.version.tfjs,
      inputShape: model.inputs[0].shape,
      outputShape: model.outputs[0].shape,
      predictions: Array.from(output.dataSync()),
    }),
  );
}

main(process.argv[2], process.argv[3]).catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
