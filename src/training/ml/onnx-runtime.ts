/** Loads onnxruntime-node (its telemetry switched off) and embeds with it. */
import { isMainThread } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { ONNX_INPUT, ONNX_OUTPUT } from './onnx-model';
import { EMBEDDING_SIZE, INPUT_SHAPE } from '../../config/model-shape';
import { splitRows, stackRows } from './vectors';

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

/** An ONNX Runtime session of the base model's embedding graph (onnx-model.ts), on one CPU thread. */
export class OnnxEmbedder {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
  ) {}

  /**
   * One intra-op thread: each worker thread runs its own session, so the workers' sessions (one per core) keep the
   * cores busy while each worker decodes its next photos.
   */
  static async load(onnxPath: string): Promise<OnnxEmbedder> {
    const ort = loadOnnxRuntime();
    const session = await ort.InferenceSession.create(onnxPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OnnxEmbedder(ort, session);
  }

  /** Preprocessed images (224·224·3 floats each, as the tfjs path takes them) → one 1280-float embedding each. */
  async embed(images: Float32Array[]): Promise<Float32Array[]> {
    if (!images.length) return [];
    const input = new this.ort.Tensor('float32', stackRows(images), [images.length, ...INPUT_SHAPE]);
    const output = (await this.session.run({ [ONNX_INPUT]: input }))[ONNX_OUTPUT];
    const embeddings = splitRows(output.data as Float32Array, EMBEDDING_SIZE);
    output.dispose();
    return embeddings;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
