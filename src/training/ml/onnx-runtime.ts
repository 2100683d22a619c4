/** Loads onnxruntime-node (its telemetry switched off); embeds with it, and does the linear head's products. */
import { isMainThread } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { cachedPromise } from '../../common/promise-cache';
import { TaskStoppedError } from './task-stop';
import { ONNX_INPUT, ONNX_OUTPUT, ROW_PRODUCT, rowProductModels } from './onnx-model';
import { EMBEDDING_SIZE, INPUT_SHAPE } from '../../config/model-shape';

/**
 * ONNX Runtime's Linux build sends usage telemetry to Microsoft: measured with strace, 1.30 resolves
 * mobile.events.data.microsoft.com some seconds after a session starts. The service talks to no one its operator
 * did not configure, so the library's switch is set unless the operator set it. Only the main thread can change the
 * environment that native code reads, so this runs there before any thread loads the library (the worker pool calls
 * it when it starts).
 */
export function disableOnnxRuntimeTelemetry(): void {
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
}

/**
 * onnxruntime-node, required lazily: its native library may be missing for this platform, and that must stay
 * recoverable (the tfjs path takes over).
 */
export function loadOnnxRuntime(): typeof Ort {
  if (isMainThread) disableOnnxRuntimeTelemetry();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- required lazily, see above
    return require('onnxruntime-node') as typeof Ort;
  } catch (err) {
    throw new Error(`onnxruntime-node could not be loaded: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * One intra-op thread: each worker thread runs its own session (the embedder's, or a fit's products), so the workers
 * keep the cores busy between them.
 */
const ONE_THREAD: Ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

/** An ONNX Runtime session of the base model's embedding graph (onnx-model.ts), on one CPU thread. */
export class OnnxEmbedder {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
  ) {}

  static async load(onnxPath: string): Promise<OnnxEmbedder> {
    const ort = loadOnnxRuntime();
    return new OnnxEmbedder(ort, await ort.InferenceSession.create(onnxPath, ONE_THREAD));
  }

  /**
   * Preprocessed images (224·224·3 floats each, as the tfjs path takes them) → one 1280-float embedding each. One
   * image a run: measured on one thread, 1.86 ms an image against 2.19 in runs of 8 and 2.35 in runs of 16 (and the
   * session keeps the memory of its largest run).
   */
  async embed(images: Float32Array[], stopped?: () => boolean): Promise<Float32Array[]> {
    const embeddings: Float32Array[] = [];
    for (const image of images) {
      if (stopped?.()) throw new TaskStoppedError();
      const output = (
        await this.session.run({ [ONNX_INPUT]: new this.ort.Tensor('float32', image, [1, ...INPUT_SHAPE]) })
      )[ONNX_OUTPUT];
      embeddings.push(Float32Array.from(output.data as Float32Array));
      output.dispose();
    }
    return embeddings;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

type ProductSessions = Record<keyof ReturnType<typeof rowProductModels>, Ort.InferenceSession>;
const productSessions = new Map<string, Promise<ProductSessions>>();

/**
 * The linear head's two products with its rows X (rowCount × 1280, row-major; see rowProductModels), by ONNX
 * Runtime's CPU kernels: measured at 10,644 rows and 500 classes, about 100 ms each on one thread where TensorFlow.js's
 * WebAssembly kernels take 420-450 ms, and X is read where it is (TensorFlow.js holds a copy and its transpose).
 */
export class OnnxRowProducts {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly sessions: ProductSessions,
    private readonly rows: Ort.Tensor,
    private readonly rowCount: number,
  ) {}

  static async create(rows: Float32Array, rowCount: number): Promise<OnnxRowProducts> {
    const ort = loadOnnxRuntime();
    // The graphs are the same for every fit: made once per thread, and kept.
    const sessions = await cachedPromise(productSessions, 'row-products', async () => {
      const models = rowProductModels();
      const [times, transposedTimes] = await Promise.all([
        ort.InferenceSession.create(models.times, ONE_THREAD),
        ort.InferenceSession.create(models.transposedTimes, ONE_THREAD),
      ]);
      return { times, transposedTimes };
    });
    const tensor = new ort.Tensor('float32', rows, [rowCount, EMBEDDING_SIZE]);
    return new OnnxRowProducts(ort, sessions, tensor, rowCount);
  }

  /** X·A, A being 1280 × classes: rowCount × classes, in an array the next call of times() writes over. */
  times(operand: Float32Array, classes: number): Promise<Float32Array> {
    return this.run('times', operand, [EMBEDDING_SIZE, classes], [this.rowCount, classes]);
  }

  /** Xᵀ·B, B being rowCount × classes: 1280 × classes, in an array the next call of transposedTimes() writes over. */
  transposedTimes(operand: Float32Array, classes: number): Promise<Float32Array> {
    return this.run('transposedTimes', operand, [this.rowCount, classes], [EMBEDDING_SIZE, classes]);
  }

  /** Nothing to free: the rows are the caller's, and the sessions stay for the thread's next fit. */
  dispose(): void {}

  /**
   * Each product is written into an array of ours, the same one every evaluation: ONNX Runtime would otherwise keep
   * one of its size in its arena besides a new copy for each call (21 MB a call at 500 products), which the worker's
   * garbage collector frees late.
   */
  private readonly products: Partial<Record<keyof ProductSessions, Float32Array>> = {};

  private async run(
    which: keyof ProductSessions,
    operand: Float32Array,
    operandShape: number[],
    productShape: [number, number],
  ): Promise<Float32Array> {
    const size = productShape[0] * productShape[1];
    let product = this.products[which];
    if (product?.length !== size) product = this.products[which] = new Float32Array(size);
    await this.sessions[which].run(
      { [ROW_PRODUCT.rows]: this.rows, [ROW_PRODUCT.operand]: new this.ort.Tensor('float32', operand, operandShape) },
      { [ROW_PRODUCT.product]: new this.ort.Tensor('float32', product, productShape) },
    );
    return product;
  }
}
