/**
 * Test support: a base model with the topology of Teachable Machine's MobileNet V2 0.35 (layer for layer the same
 * names, types, shapes and weights manifest, built here as Keras Applications builds MobileNetV2) and seeded random
 * weights, so that tests need no third-party model. It recognises nothing, but every mechanism (the fused graph, the
 * ONNX graph, both browser loaders, the exported files) runs on it as on the real one.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type * as TF from '@tensorflow/tfjs';
import { mulberry32 } from '../../src/training/ml/training-set';

const ALPHA = 0.35;
/** Blocks 1-16 after the first one: [expansion, output channels at alpha 1, stride]. */
const BLOCKS: [number, number, number][] = [
  [6, 24, 2],
  [6, 24, 1],
  [6, 32, 2],
  [6, 32, 1],
  [6, 32, 1],
  [6, 64, 2],
  [6, 64, 1],
  [6, 64, 1],
  [6, 64, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 160, 2],
  [6, 160, 1],
  [6, 160, 1],
  [6, 320, 1],
];

/** Keras Applications' _make_divisible: channel counts rounded to a multiple of 8, never down by more than 10 %. */
function makeDivisible(value: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}

// Loaded on first use: the test support that names the model's path must not load TensorFlow.js for it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tfjs = () => require('@tensorflow/tfjs') as typeof TF;

type Node = TF.SymbolicTensor;
const apply = (layer: TF.layers.Layer, input: Node | Node[]) => layer.apply(input) as Node;
const pad = (x: Node, name: string) =>
  apply(
    tfjs().layers.zeroPadding2d({
      name,
      padding: [
        [0, 1],
        [0, 1],
      ],
    }),
    x,
  );
const conv = (x: Node, name: string, filters: number, kernelSize: number, strides: number, padding: 'same' | 'valid') =>
  apply(tfjs().layers.conv2d({ name, filters, kernelSize, strides, padding, useBias: false }), x);
const depthwise = (x: Node, name: string, strides: number) =>
  apply(
    tfjs().layers.depthwiseConv2d({
      name,
      kernelSize: 3,
      strides,
      padding: strides === 1 ? 'same' : 'valid',
      useBias: false,
    }),
    x,
  );
const batchNorm = (x: Node, name: string) =>
  apply(tfjs().layers.batchNormalization({ name, axis: -1, momentum: 0.999, epsilon: 0.001 }), x);
const relu6 = (x: Node, name: string) => apply(tfjs().layers.reLU({ name, maxValue: 6 }), x);

/** Block `id` (0 has no expansion and the prefix `expanded_conv_`), as Keras' _inverted_res_block. */
function invertedResidual(x: Node, id: number, expansion: number, filters: number, stride: number): Node {
  const inChannels = x.shape[3]!;
  const outChannels = makeDivisible(Math.floor(filters * ALPHA));
  const prefix = id ? `block_${id}_` : 'expanded_conv_';
  let y = x;
  if (id) {
    y = conv(y, `${prefix}expand`, inChannels * expansion, 1, 1, 'same');
    y = relu6(batchNorm(y, `${prefix}expand_BN`), `${prefix}expand_relu`);
  }
  if (stride === 2) y = pad(y, `${prefix}pad`);
  y = relu6(batchNorm(depthwise(y, `${prefix}depthwise`, stride), `${prefix}depthwise_BN`), `${prefix}depthwise_relu`);
  y = batchNorm(conv(y, `${prefix}project`, outChannels, 1, 1, 'same'), `${prefix}project_BN`);
  return inChannels === outChannels && stride === 1 ? apply(tfjs().layers.add({ name: `${prefix}add` }), [x, y]) : y;
}

/** MobileNet V2, alpha 0.35, 224 × 224, no top, up to `out_relu`; weights as TensorFlow.js initialises them. */
function mobileNetV2(): TF.LayersModel {
  const tf = tfjs();
  const input = tf.input({ name: 'input_1', shape: [224, 224, 3] });
  let x = conv(pad(input, 'Conv1_pad'), 'Conv1', makeDivisible(32 * ALPHA), 3, 2, 'valid');
  x = relu6(batchNorm(x, 'bn_Conv1'), 'Conv1_relu');
  x = invertedResidual(x, 0, 1, 16, 1);
  BLOCKS.forEach(([expansion, filters, stride], i) => (x = invertedResidual(x, i + 1, expansion, filters, stride)));
  x = relu6(batchNorm(conv(x, 'Conv_1', 1280, 1, 1, 'valid'), 'Conv_1_bn'), 'out_relu');
  return tf.model({ name: 'model3', inputs: input, outputs: x });
}

/**
 * Seeded weights: kernels He-normal (scaled by their fan-in, so activations neither vanish nor saturate through 52
 * layers), normalisation at its identity (gamma 1, beta 0, mean 0, variance 1).
 */
function seedWeights(model: TF.LayersModel, seed: number): void {
  const tf = tfjs();
  const random = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  for (const layer of model.layers) {
    const kernels = layer.getWeights().map((weight, i) => {
      // The original name: a second model in one process gets variables named `Conv1/kernel_1` and so on.
      const name = layer.weights[i].originalName;
      if (!/kernel$/.test(name)) return weight;
      const [kh, kw, inChannels] = weight.shape;
      const fanIn = kh * kw * (/depthwise_kernel$/.test(name) ? 1 : inChannels);
      const values = Float32Array.from({ length: weight.size }, () => normal() * Math.sqrt(2 / fanIn));
      return tf.tensor(values, weight.shape);
    });
    layer.setWeights(kernels);
  }
}

/**
 * Writes the model (model.json and weights.bin) into `dir`, which must not exist yet: built in a staging folder and
 * renamed, so that concurrent test processes never see half a model.
 */
export async function writeRandomBaseModel(dir: string, seed: number): Promise<string> {
  const staging = `${dir}.staging-${randomUUID()}`;
  await fs.mkdir(staging, { recursive: true });
  const tf = tfjs();
  const model = mobileNetV2();
  try {
    seedWeights(model, seed);
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const modelJson = {
          format: 'layers-model',
          generatedBy: 'ml-trainer test support (seeded random weights)',
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        };
        await fs.writeFile(path.join(staging, 'model.json'), JSON.stringify(modelJson));
        await fs.writeFile(path.join(staging, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    await fs.rename(staging, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another process wrote the same model first: theirs is as good.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
    return path.join(dir, 'model.json');
  } finally {
    model.dispose();
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** Bumped when the generator changes, so that a machine's earlier copy is not reused. */
const GENERATOR_VERSION = 1;

/** Where the model for `seed` lives: one copy per machine, in the temp folder. */
export function randomBaseModelPath(seed: number): string {
  return path.join(
    os.tmpdir(),
    'ml-trainer-test-models',
    `mobilenet-v2-0.35-random-v${GENERATOR_VERSION}-${seed}`,
    'model.json',
  );
}

/** The model for `seed` (see randomBaseModelPath), written unless it is there already. */
export async function randomBaseModel(seed: number): Promise<string> {
  const modelJson = randomBaseModelPath(seed);
  try {
    await fs.access(path.join(path.dirname(modelJson), 'weights.bin'));
    return modelJson;
  } catch {
    await fs.mkdir(path.dirname(path.dirname(modelJson)), { recursive: true });
    return writeRandomBaseModel(path.dirname(modelJson), seed);
  }
}
