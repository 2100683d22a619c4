import type * as TF from '@tensorflow/tfjs';

type Activation = 'linear' | 'relu6';
type Op =
  | {
      kind: 'conv';
      name: string;
      input: string;
      depthwise: boolean;
      filter: TF.Tensor4D;
      bias: TF.Tensor1D;
      strides: number;
      padding: 'same' | 'valid';
      activation: Activation;
      pad?: number[][];
    }
  | { kind: 'add'; name: string; inputs: string[] }
  | { kind: 'alias'; name: string; input: string; pad?: number[][] };

function inputsOf(op: Op): string[] {
  return op.kind === 'add' ? op.inputs : [op.input];
}

interface LayerNode {
  layer: TF.layers.Layer;
  inputs: string[];
}

/**
 * The base model as a short list of fused TensorFlow ops, for fast embedding during training: every
 * BatchNormalization is folded into the convolution before it and every ReLU6 becomes the convolution's activation
 * (170 layers → 52 convolutions + 10 adds). The exported model keeps the original layers; a test checks both give
 * the same embeddings.
 */
export class FusedFeatureExtractor {
  private constructor(
    private readonly tf: typeof TF,
    private readonly ops: Op[],
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static fromLayersModel(tf: typeof TF, model: TF.LayersModel, outputLayer: string): FusedFeatureExtractor {
    const nodes = new Map<string, LayerNode>();
    const consumers = new Map<string, string[]>();
    for (const layer of model.layers) {
      const inbound = (layer as unknown as { inboundNodes: { inboundLayers: TF.layers.Layer[] }[] }).inboundNodes[0];
      const inputs = inbound ? inbound.inboundLayers.map((l) => l.name) : [];
      nodes.set(layer.name, { layer, inputs });
      for (const i of inputs) consumers.set(i, [...(consumers.get(i) ?? []), layer.name]);
    }
    const soleConsumer = (name: string, className: string): LayerNode | undefined => {
      const c = consumers.get(name) ?? [];
      const node = c.length === 1 ? nodes.get(c[0]) : undefined;
      return node && node.layer.getClassName() === className ? node : undefined;
    };
    const ops: Op[] = [];
    const absorbed = new Set<string>();
    let inputName = '';
    for (const [name, { layer, inputs }] of nodes) {
      if (absorbed.has(name)) continue;
      const cls = layer.getClassName();
      const config = layer.getConfig() as Record<string, unknown>;
      if (cls === 'InputLayer') {
        inputName = name;
      } else if (cls === 'ZeroPadding2D') {
        const [[top, bottom], [left, right]] = config.padding as number[][];
        ops.push({
          kind: 'alias',
          name,
          input: inputs[0],
          pad: [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ],
        });
      } else if (cls === 'Conv2D' || cls === 'DepthwiseConv2D') {
        const depthwise = cls === 'DepthwiseConv2D';
        const [kernel, ownBias] = layer.getWeights();
        let filter = kernel.clone() as TF.Tensor4D;
        const [, , inChannels, outPerIn] = kernel.shape as number[];
        const channels = depthwise ? inChannels * outPerIn : outPerIn;
        let bias: TF.Tensor1D = (config.useBias ? ownBias.clone() : tf.zeros([channels])) as TF.Tensor1D;
        let last = name;
        const bn = soleConsumer(name, 'BatchNormalization');
        if (bn) {
          const [gamma, beta, mean, variance] = bn.layer.getWeights();
          const epsilon = (bn.layer.getConfig() as { epsilon: number }).epsilon;
          const scale = tf.tidy(() => gamma.div(variance.add(epsilon).sqrt()));
          const folded = tf.tidy(() => {
            const s = depthwise ? scale.reshape([1, 1, inChannels, outPerIn]) : scale;
            return {
              filter: filter.mul(s) as TF.Tensor4D,
              bias: beta.add(bias.sub(mean).mul(scale)) as TF.Tensor1D,
            };
          });
          filter.dispose();
          bias.dispose();
          scale.dispose();
          ({ filter, bias } = folded);
          absorbed.add(bn.layer.name);
          last = bn.layer.name;
        }
        let activation: Activation = 'linear';
        const relu = soleConsumer(last, 'ReLU');
        if (relu && (relu.layer.getConfig() as { maxValue?: number }).maxValue === 6) {
          activation = 'relu6';
          absorbed.add(relu.layer.name);
          last = relu.layer.name;
        }
        const strides = (config.strides as number[])[0];
        ops.push({
          kind: 'conv',
          name: last,
          input: inputs[0],
          depthwise,
          filter,
          bias,
          strides,
          padding: config.padding as 'same' | 'valid',
          activation,
        });
      } else if (cls === 'Add') {
        ops.push({ kind: 'add', name, inputs });
      } else {
        throw new Error(`cannot fuse layer ${name} of class ${cls}`);
      }
      if (name === outputLayer || absorbed.has(outputLayer)) break;
    }
    const outputName = ops[ops.length - 1].name;
    return new FusedFeatureExtractor(tf, ops, inputName, outputName);
  }

  /** [batch, 224, 224, 3] in [-1, 1] → [batch, 1280] (global average of the last feature map). */
  predict(input: TF.Tensor4D): TF.Tensor2D {
    const tf = this.tf;
    // Each activation is freed as soon as its last reader has run, so memory holds a few feature maps, not all 62.
    const pendingReads = new Map<string, number>();
    for (const op of this.ops)
      for (const name of inputsOf(op)) pendingReads.set(name, (pendingReads.get(name) ?? 0) + 1);
    const values = new Map<string, TF.Tensor4D>([[this.inputName, input]]);
    const read = (name: string): TF.Tensor4D => values.get(name)!;
    const release = (op: Op) => {
      for (const name of inputsOf(op)) {
        const left = pendingReads.get(name)! - 1;
        pendingReads.set(name, left);
        if (left === 0 && name !== this.inputName) values.get(name)!.dispose();
      }
    };
    for (const op of this.ops) {
      let output: TF.Tensor4D;
      if (op.kind === 'alias') {
        output = tf.pad(read(op.input), op.pad as [number, number][]);
      } else if (op.kind === 'add') {
        output = tf.add(read(op.inputs[0]), read(op.inputs[1]));
      } else {
        const args = {
          x: read(op.input),
          filter: op.filter,
          strides: op.strides,
          pad: op.padding,
          bias: op.bias,
          activation: op.activation,
        };
        output = op.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
      }
      values.set(op.name, output);
      release(op);
    }
    const last = read(this.outputName);
    const pooled = tf.mean(last, [1, 2]) as TF.Tensor2D;
    last.dispose();
    return pooled;
  }

  dispose(): void {
    for (const op of this.ops)
      if (op.kind === 'conv') {
        op.filter.dispose();
        op.bias.dispose();
      }
  }
}
