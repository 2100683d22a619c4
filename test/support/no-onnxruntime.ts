/**
 * Preloaded (`node --require`) into a process to make `onnxruntime-node` fail to load, as on a platform its package
 * has no binaries for.
 */
import Module from 'node:module';

type Load = (request: string, ...rest: unknown[]) => unknown;
const loader = Module as unknown as { _load: Load };
const load = loader._load;
loader._load = function (this: unknown, request: string, ...rest: unknown[]) {
  if (request === 'onnxruntime-node') throw new Error('simulated: no ONNX Runtime binary for this platform');
  return load.call(this, request, ...rest);
};
