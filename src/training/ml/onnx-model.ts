/** Writes the base model as an ONNX graph (protobuf, no Python), for ONNX Runtime. */
import * as protobuf from 'protobufjs';
import { inputsOf, type FusedGraph, type FusedOp } from './fused-graph';
import { EMBEDDING_SIZE, INPUT_SHAPE } from '../../config/model-shape';

/** Names of the ONNX graph's input ([batch, 224, 224, 3], as the tfjs model takes it) and output ([batch, 1280]). */
export const ONNX_INPUT = 'pixels';
export const ONNX_OUTPUT = 'embedding';
/** Operator set 13 has every operator used here in its current form (Clip's bounds as inputs, Pad's as input). */
const OPSET = 13;
const IR_VERSION = 7;

/**
 * The part of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto: message and field numbers as published there) that
 * an inference graph of convolutions needs; protobufjs encodes it.
 */
const onnx = protobuf.Root.fromJSON({
  nested: {
    ModelProto: {
      fields: {
        irVersion: { type: 'int64', id: 1 },
        producerName: { type: 'string', id: 2 },
        graph: { type: 'GraphProto', id: 7 },
        opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
      },
    },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    GraphProto: {
      fields: {
        node: { rule: 'repeated', type: 'NodeProto', id: 1 },
        name: { type: 'string', id: 2 },
        initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
        input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
      },
    },
    NodeProto: {
      fields: {
        input: { rule: 'repeated', type: 'string', id: 1 },
        output: { rule: 'repeated', type: 'string', id: 2 },
        name: { type: 'string', id: 3 },
        opType: { type: 'string', id: 4 },
        attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
      },
    },
    AttributeProto: {
      fields: {
        name: { type: 'string', id: 1 },
        i: { type: 'int64', id: 3 },
        s: { type: 'bytes', id: 4 },
        ints: { rule: 'repeated', type: 'int64', id: 8 },
        type: { type: 'int32', id: 20 },
      },
    },
    TensorProto: {
      fields: {
        dims: { rule: 'repeated', type: 'int64', id: 1 },
        dataType: { type: 'int32', id: 2 },
        name: { type: 'string', id: 8 },
        rawData: { type: 'bytes', id: 9 },
      },
    },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
    TypeProto: { fields: { tensorType: { type: 'TensorTypeProto', id: 1 } } },
    TensorTypeProto: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
  },
});

/** onnx.proto's AttributeProto.AttributeType and TensorProto.DataType values used here. */
const ATTRIBUTE = { INT: 2, STRING: 3, INTS: 7 } as const;
const DATA_TYPE = { FLOAT: 1, INT64: 7 } as const;

type Attribute = { name: string; i?: number; s?: Uint8Array; ints?: number[]; type: number };
interface Node {
  opType: string;
  name: string;
  input: string[];
  output: string[];
  attribute?: Attribute[];
}
interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

const ints = (name: string, values: number[]): Attribute => ({ name, ints: values, type: ATTRIBUTE.INTS });
const int = (name: string, value: number): Attribute => ({ name, i: value, type: ATTRIBUTE.INT });
const text = (name: string, value: string): Attribute => ({
  name,
  s: new TextEncoder().encode(value),
  type: ATTRIBUTE.STRING,
});

/**
 * The fused base model as an ONNX model: the NHWC input transposed once to NCHW, a Conv per fused convolution
 * (ZeroPadding2D folded into the next convolution's pads, ReLU6 as Clip(0, 6)), Add for the residuals, and the global
 * average pool at the end, so its output is the same 1280 floats per image as the tfjs path's.
 */
export function onnxModelOf(graph: FusedGraph): Uint8Array {
  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const constant = (name: string, dims: number[], values: Float32Array | BigInt64Array): string => {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const dataType = values instanceof Float32Array ? DATA_TYPE.FLOAT : DATA_TYPE.INT64;
    initializers.push({ name, dims, dataType, rawData: bytes.slice() });
    return name;
  };
  const six = constant('relu6_max', [], new Float32Array([6]));
  const zero = constant('relu6_min', [], new Float32Array([0]));
  const tensorOf = new Map<string, string>([[graph.input, 'pixels_nchw']]);
  nodes.push({
    opType: 'Transpose',
    name: 'to_nchw',
    input: [ONNX_INPUT],
    output: ['pixels_nchw'],
    attribute: [ints('perm', [0, 3, 1, 2])],
  });
  const readers = new Map<string, FusedOp[]>();
  for (const op of graph.ops) for (const input of inputsOf(op)) readers.set(input, [...(readers.get(input) ?? []), op]);
  const pads = new Map<string, { input: string; pad: [[number, number], [number, number]] }>();

  for (const op of graph.ops) {
    if (op.kind === 'pad') {
      const next = readers.get(op.name) ?? [];
      if (next.length === 1 && next[0].kind === 'conv' && next[0].padding === 'valid') {
        pads.set(op.name, { input: op.input, pad: op.pad });
        continue;
      }
      const [[top, bottom], [left, right]] = op.pad;
      const amounts = constant(
        `${op.name}/pads`,
        [8],
        BigInt64Array.from([0, 0, top, left, 0, 0, bottom, right], BigInt),
      );
      nodes.push({ opType: 'Pad', name: op.name, input: [tensorOf.get(op.input)!, amounts], output: [op.name] });
      tensorOf.set(op.name, op.name);
    } else if (op.kind === 'add') {
      nodes.push({ opType: 'Add', name: op.name, input: op.inputs.map((i) => tensorOf.get(i)!), output: [op.name] });
      tensorOf.set(op.name, op.name);
    } else {
      const folded = pads.get(op.input);
      const [kh, kw, inChannels, last] = op.kernelShape;
      const outChannels = op.depthwise ? inChannels * last : last;
      const weights = constant(`${op.name}/W`, [outChannels, op.depthwise ? 1 : inChannels, kh, kw], toOihw(op));
      const bias = constant(`${op.name}/B`, [outChannels], op.bias);
      const attribute = [ints('kernel_shape', [kh, kw]), ints('strides', [op.strides, op.strides])];
      if (op.depthwise) attribute.push(int('group', inChannels));
      if (op.padding === 'same') attribute.push(text('auto_pad', 'SAME_UPPER'));
      else if (folded) {
        const [[top, bottom], [left, right]] = folded.pad;
        attribute.push(ints('pads', [top, left, bottom, right]));
      }
      const source = tensorOf.get(folded ? folded.input : op.input);
      if (!source) throw new Error(`ONNX export: ${op.name} reads ${op.input}, which no earlier operation writes`);
      const convOut = op.activation === 'relu6' ? `${op.name}/conv` : op.name;
      nodes.push({
        opType: 'Conv',
        name: `${op.name}/conv`,
        input: [source, weights, bias],
        output: [convOut],
        attribute,
      });
      if (op.activation === 'relu6')
        nodes.push({ opType: 'Clip', name: op.name, input: [convOut, zero, six], output: [op.name] });
      tensorOf.set(op.name, op.name);
    }
  }
  nodes.push(
    { opType: 'GlobalAveragePool', name: 'pool', input: [tensorOf.get(graph.output)!], output: ['pooled'] },
    { opType: 'Flatten', name: 'flatten', input: ['pooled'], output: [ONNX_OUTPUT], attribute: [int('axis', 1)] },
  );
  return encodeModel({
    name: 'base-model-embedding',
    node: nodes,
    initializer: initializers,
    input: [floatTensor(ONNX_INPUT, ['batch', ...INPUT_SHAPE])],
    output: [floatTensor(ONNX_OUTPUT, ['batch', EMBEDDING_SIZE])],
  });
}

/** Names of the row products' inputs and output (see rowProductModels). */
export const ROW_PRODUCT = { rows: 'rows', operand: 'operand', product: 'product' } as const;

/**
 * The two products of the linear head's fit with its rows X ([rows, 1280], row-major): `times` is X·A (A: [1280,
 * classes]) and `transposedTimes` Xᵀ·B (B: [rows, classes]), a Gemm that reads X as stored (no transposed copy).
 */
export function rowProductModels(): { times: Uint8Array; transposedTimes: Uint8Array } {
  const rows = floatTensor(ROW_PRODUCT.rows, ['rows', EMBEDDING_SIZE]);
  const product = (name: string, node: Node, operand: (number | string)[], out: (number | string)[]) =>
    encodeModel({
      name,
      node: [node],
      input: [rows, floatTensor(ROW_PRODUCT.operand, operand)],
      output: [floatTensor(ROW_PRODUCT.product, out)],
    });
  const io = { input: [ROW_PRODUCT.rows, ROW_PRODUCT.operand], output: [ROW_PRODUCT.product] };
  return {
    times: product(
      'rows-times',
      { opType: 'MatMul', name: 'times', ...io },
      [EMBEDDING_SIZE, 'classes'],
      ['rows', 'classes'],
    ),
    transposedTimes: product(
      'rows-transposed-times',
      { opType: 'Gemm', name: 'transposed_times', ...io, attribute: [int('transA', 1)] },
      ['rows', 'classes'],
      [EMBEDDING_SIZE, 'classes'],
    ),
  };
}

const floatTensor = (name: string, dims: (number | string)[]) => ({
  name,
  type: {
    tensorType: {
      elemType: DATA_TYPE.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
    },
  },
});

function encodeModel(graph: {
  name: string;
  node: Node[];
  initializer?: Tensor[];
  input: ReturnType<typeof floatTensor>[];
  output: ReturnType<typeof floatTensor>[];
}): Uint8Array {
  const ModelProto = onnx.lookupType('ModelProto');
  const model = ModelProto.fromObject({
    irVersion: IR_VERSION,
    producerName: 'ml-trainer',
    opsetImport: [{ domain: '', version: OPSET }],
    graph,
  });
  return ModelProto.encode(model).finish();
}

/** Keras kernel [h, w, in, out] → ONNX [out, in, h, w]; depthwise [h, w, c, m] → [c·m, 1, h, w]. */
function toOihw(op: Extract<FusedOp, { kind: 'conv' }>): Float32Array {
  const [kh, kw, a, b] = op.kernelShape;
  const out = new Float32Array(op.kernel.length);
  // (i, j) is (input, output) channel for a plain kernel, (channel, multiplier) for a depthwise one: output i·b + j.
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < a; i++)
        for (let j = 0; j < b; j++) {
          const source = ((y * kw + x) * a + i) * b + j;
          const target = op.depthwise ? ((i * b + j) * kh + y) * kw + x : ((j * a + i) * kh + y) * kw + x;
          out[target] = op.kernel[source];
        }
  return out;
}
