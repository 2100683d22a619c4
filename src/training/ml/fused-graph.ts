/** The base model as a short list of fused operations, read from its layers model. */
import type * as TF from '@tensorflow/tfjs';
import { TrainerError } from '../../common/errors';

/**
 * The base model as a short list of fused operations with plain weights, read straight from the layers model's
 * files (no TensorFlow): every BatchNormalization is folded into the convolution before it and every ReLU6 becomes
 * the convolution's activation (155 layers → 52 convolutions, 5 paddings, 10 adds). Both embedding engines run it:
 * TensorFlow.js (fused-extractor.ts) and ONNX Runtime (onnx-model.ts).
 */
export interface FusedGraph {
  input: string;
  output: string;
  ops: FusedOp[];
}

export type Activation = 'linear' | 'relu6';

export type FusedOp =
  | {
      kind: 'conv';
      name: string;
      input: string;
      depthwise: boolean;
      /** Keras layout: [height, width, in, out] (depthwise: [height, width, channels, multiplier]). */
      kernel: Float32Array;
      kernelShape: [number, number, number, number];
      bias: Float32Array;
      strides: number;
      padding: 'same' | 'valid';
      activation: Activation;
    }
  | { kind: 'add'; name: string; inputs: [string, string] }
  /** Zero padding of the feature map: [[top, bottom], [left, right]]. */
  | { kind: 'pad'; name: string; input: string; pad: [[number, number], [number, number]] };

/** The base model has a layer (or a use of one) that neither engine's fused graph can express. */
export class UnsupportedLayerError extends TrainerError {
  constructor(
    readonly layer: string,
    readonly className: string,
    detail = '',
  ) {
    super(`the base model's layer ${layer} (${className}${detail ? `, ${detail}` : ''}) cannot be fused`);
  }
}

/** The names an operation reads. */
export function inputsOf(op: { inputs: readonly string[] } | { input: string }): readonly string[] {
  return 'inputs' in op ? op.inputs : [op.input];
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes?: unknown[];
}

/** Fuses a layers model (model.json's topology and its weights) up to `outputLayer`. */
export function fuseLayersModel(artifacts: TF.io.ModelArtifacts, outputLayer: string): FusedGraph {
  const layers = layersOf(artifacts.modelTopology);
  const weights = readWeights(artifacts);
  const inputsOfLayer = new Map<string, string[]>();
  const consumers = new Map<string, string[]>();
  for (const layer of layers) {
    const inputs = inboundLayers(layer);
    inputsOfLayer.set(layer.config.name, inputs);
    for (const i of inputs) consumers.set(i, [...(consumers.get(i) ?? []), layer.config.name]);
  }
  const byName = new Map(layers.map((l) => [l.config.name, l]));
  const soleConsumer = (name: string, className: string): LayerJson | undefined => {
    const c = consumers.get(name) ?? [];
    const layer = c.length === 1 ? byName.get(c[0]) : undefined;
    return layer?.class_name === className ? layer : undefined;
  };
  const weight = (layer: string, param: string): Float32Array => {
    const w = weights.get(`${layer}/${param}`);
    if (!w) throw new UnsupportedLayerError(layer, byName.get(layer)?.class_name ?? '?', `no weight ${param}`);
    return w.values;
  };

  const ops: FusedOp[] = [];
  const absorbed = new Set<string>();
  let input = '';
  for (const layer of layers) {
    const name = layer.config.name;
    if (absorbed.has(name)) continue;
    const inputs = inputsOfLayer.get(name)!;
    const config = layer.config;
    if (layer.class_name === 'InputLayer') {
      input = name;
    } else if (layer.class_name === 'ZeroPadding2D') {
      const [[top, bottom], [left, right]] = config.padding as number[][];
      ops.push({
        kind: 'pad',
        name,
        input: inputs[0],
        pad: [
          [top, bottom],
          [left, right],
        ],
      });
    } else if (layer.class_name === 'Conv2D' || layer.class_name === 'DepthwiseConv2D') {
      ops.push(fuseConvolution(layer, inputs[0], weight, soleConsumer, absorbed));
    } else if (layer.class_name === 'Add' && inputs.length === 2) {
      ops.push({ kind: 'add', name, inputs: [inputs[0], inputs[1]] });
    } else {
      throw new UnsupportedLayerError(name, layer.class_name);
    }
    if (name === outputLayer || absorbed.has(outputLayer)) break;
  }
  if (!input || !ops.length) throw new UnsupportedLayerError(outputLayer, '?', 'no input layer before it');
  return { input, output: ops[ops.length - 1].name, ops };
}

/** A convolution with the BatchNormalization and ReLU6 that follow it (when they are its only reader) folded in. */
function fuseConvolution(
  layer: LayerJson,
  input: string,
  weight: (layer: string, param: string) => Float32Array,
  soleConsumer: (name: string, className: string) => LayerJson | undefined,
  absorbed: Set<string>,
): FusedOp {
  const { config } = layer;
  const name = config.name;
  const depthwise = layer.class_name === 'DepthwiseConv2D';
  const dilation = (config.dilation_rate as number[] | undefined) ?? [1, 1];
  const strides = config.strides as number[];
  if (dilation.some((d) => d !== 1)) throw new UnsupportedLayerError(name, layer.class_name, 'dilation');
  if (strides[0] !== strides[1]) throw new UnsupportedLayerError(name, layer.class_name, 'unequal strides');
  if ((config.activation ?? 'linear') !== 'linear')
    throw new UnsupportedLayerError(name, layer.class_name, `activation ${String(config.activation)}`);
  const kernel = Float32Array.from(weight(name, depthwise ? 'depthwise_kernel' : 'kernel'));
  const [kh, kw, inChannels, perIn] = kernelShapeOf(config, depthwise, kernel.length);
  const channels = depthwise ? inChannels * perIn : perIn;
  let bias = config.use_bias ? Float32Array.from(weight(name, 'bias')) : new Float32Array(channels);
  let last = name;
  const bn = soleConsumer(name, 'BatchNormalization');
  if (bn) {
    const bnName = bn.config.name;
    const gamma = bn.config.scale === false ? null : weight(bnName, 'gamma');
    const beta = bn.config.center === false ? null : weight(bnName, 'beta');
    const mean = weight(bnName, 'moving_mean');
    const variance = weight(bnName, 'moving_variance');
    const epsilon = Number(bn.config.epsilon ?? 1e-3);
    const scale = new Float32Array(channels);
    for (let c = 0; c < channels; c++) scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + epsilon);
    // The output channel is the kernel's last index (depthwise: channel × multiplier, flattened the same way).
    for (let i = 0; i < kernel.length; i++) kernel[i] *= scale[i % channels];
    bias = bias.map((b, c) => (beta ? beta[c] : 0) + (b - mean[c]) * scale[c]);
    absorbed.add(bnName);
    last = bnName;
  }
  let activation: Activation = 'linear';
  const relu = soleConsumer(last, 'ReLU');
  if (relu && relu.config.max_value === 6 && !relu.config.negative_slope && !relu.config.threshold) {
    activation = 'relu6';
    absorbed.add(relu.config.name);
    last = relu.config.name;
  }
  return {
    kind: 'conv',
    name: last,
    input,
    depthwise,
    kernel,
    kernelShape: [kh, kw, inChannels, perIn],
    bias,
    strides: strides[0],
    padding: config.padding as 'same' | 'valid',
    activation,
  };
}

/** Keras stores no input channel count on a convolution: it follows from the kernel's size. */
function kernelShapeOf(
  config: Record<string, unknown>,
  depthwise: boolean,
  size: number,
): [number, number, number, number] {
  const [kh, kw] = config.kernel_size as number[];
  const last = depthwise ? Number(config.depth_multiplier ?? 1) : Number(config.filters);
  return [kh, kw, size / (kh * kw * last), last];
}

function layersOf(topology: unknown): LayerJson[] {
  const t = topology as { config?: { layers?: LayerJson[] }; model_config?: { config?: { layers?: LayerJson[] } } };
  const layers = t?.config?.layers ?? t?.model_config?.config?.layers;
  if (!layers) throw new UnsupportedLayerError('(model)', 'unknown topology', 'no layer list');
  return layers;
}

/** Keras 2 inbound nodes: [[["layer", 0, 0, {}], …]]. */
function inboundLayers(layer: LayerJson): string[] {
  const nodes = layer.inbound_nodes ?? [];
  if (!nodes.length) return [];
  if (nodes.length > 1) throw new UnsupportedLayerError(layer.config.name, layer.class_name, 'shared layer');
  const node = nodes[0];
  if (!Array.isArray(node)) throw new UnsupportedLayerError(layer.config.name, layer.class_name, 'inbound node format');
  return node.map((entry) => String((entry as unknown[])[0]));
}

/** The model's weights by name, as float32 (affine-quantised uint8/uint16 weights are dequantised). */
function readWeights(artifacts: TF.io.ModelArtifacts): Map<string, { values: Float32Array; shape: number[] }> {
  const data = artifacts.weightData as ArrayBuffer;
  const weights = new Map<string, { values: Float32Array; shape: number[] }>();
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    let values: Float32Array;
    if (!q && spec.dtype === 'float32') {
      values = new Float32Array(data.slice(offset, offset + count * 4));
      offset += count * 4;
    } else if (q && (q.dtype === 'uint8' || q.dtype === 'uint16') && q.scale !== undefined && q.min !== undefined) {
      const bytes = q.dtype === 'uint8' ? 1 : 2;
      const raw =
        q.dtype === 'uint8'
          ? new Uint8Array(data.slice(offset, offset + count))
          : new Uint16Array(data.slice(offset, offset + count * 2));
      values = Float32Array.from(raw, (v) => v * q.scale! + q.min!);
      offset += count * bytes;
    } else {
      throw new UnsupportedLayerError(spec.name, 'weight', `dtype ${q?.dtype ?? spec.dtype}`);
    }
    weights.set(spec.name, { values, shape: spec.shape });
  }
  return weights;
}
