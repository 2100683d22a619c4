/** Loads TensorFlow.js with the chosen backend (native, WebAssembly or plain JavaScript). */
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

import { TF_BACKENDS, type TfBackendChoice, type TfBackendName } from '../../config/ml-choices';

export interface LoadedTensorflow {
  tf: typeof TF;
  backend: TfBackendName;
  /** Why faster backends were passed over, for the one log line that names the backend. */
  skipped: string[];
}

/**
 * Loads TensorFlow.js with the requested backend. `@tensorflow/tfjs-node` is an optional dependency whose install
 * needs the internet, so in `auto` mode its absence is expected and we fall back to WebAssembly, whose .wasm files
 * ship inside the npm package (never fetched from a CDN).
 */
export async function loadTensorflow(choice: TfBackendChoice): Promise<LoadedTensorflow> {
  const candidates: readonly TfBackendName[] = choice === 'auto' ? TF_BACKENDS : [choice];
  const skipped: string[] = [];
  for (const backend of candidates) {
    try {
      const tf = await activate(backend);
      return { tf, backend, skipped };
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      // @tensorflow/tfjs-node is an optional dependency: its absence is the usual case, said as such.
      const reason = `${backend}: ${/Cannot find module '@tensorflow\/tfjs-node'/.test(message) ? '@tensorflow/tfjs-node is not installed (optional)' : message}`;
      if (choice !== 'auto') throw new Error(`TF_BACKEND=${choice} cannot be used (${reason})`);
      skipped.push(reason);
    }
  }
  throw new Error(`no TensorFlow.js backend could be started (${skipped.join('; ')})`);
}

async function activate(backend: TfBackendName): Promise<typeof TF> {
  // Required lazily: importing tfjs-node when its native library is missing throws, and that must stay recoverable.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const tf = require('@tensorflow/tfjs') as typeof TF;
  if (backend === 'tensorflow') {
    require('@tensorflow/tfjs-node');
  } else if (backend === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmDirectory() + path.sep);
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
  if (!(await tf.setBackend(backend))) throw new Error('backend failed to initialise');
  await tf.ready();
  return tf;
}

/** The package's own dist/ folder, which holds tfjs-backend-wasm*.wasm. */
export function wasmDirectory(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}
