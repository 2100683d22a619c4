/** Embeds with the base model's fused graph on TensorFlow.js (the fallback engine). */
import type * as TF from '@tensorflow/tfjs';
import { inputsOf, type Activation, type FusedGraph } from './fused-graph';

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
    }
  | { kind: 'add'; name: string; inputs: [string, string] }
  | { kind: 'pad'; name: string; input: string; pad: [number, number][] };

/**
 * The base model's fused graph (fused-graph.ts) run with TensorFlow.js's fused ops, for fast embedding during
 * training. The exported model keeps the original layers; a test checks both give the same embeddings.
 */
export class FusedFeatureExtractor {
  private constructor(
    private readonly tf: typeof TF,
    private readonly ops: Op[],
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static fromGraph(tf: typeof TF, graph: FusedGraph): FusedFeatureExtractor {
    const ops = graph.ops.map((op): Op => {
      if (op.kind === 'conv') {
        const { kernel, kernelShape, bias, ...rest } = op;
        return { ...rest, filter: tf.tensor4d(kernel, kernelShape), bias: tf.tensor1d(bias) };
      }
      if (op.kind === 'pad') return { ...op, pad: [[0, 0], op.pad[0], op.pad[1], [0, 0]] };
      return op;
    });
    return new FusedFeatureExtractor(tf, ops, graph.input, graph.output);
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
      if (op.kind === 'pad') {
        output = tf.pad(read(op.input), op.pad);
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
