/** Unit tests of the TensorFlow.js backend choice. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadTensorflow, wasmDirectory } from './backend';

function nativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

describe('TensorFlow backend choice', () => {
  it('finds the .wasm binaries inside the npm package, not on a CDN', () => {
    assert.match(wasmDirectory(), /node_modules[\\/]@tensorflow[\\/]tfjs-backend-wasm[\\/]dist$/);
  });

  it('auto uses the native backend when installed, else falls back to WebAssembly and says why', async () => {
    const { tf, backend, skipped } = await loadTensorflow('auto');
    if (nativeInstalled()) {
      assert.equal(backend, 'tensorflow');
    } else {
      assert.equal(backend, 'wasm');
      assert.equal(tf.getBackend(), 'wasm');
      assert.match(skipped.join(), /tensorflow: @tensorflow\/tfjs-node is not installed \(optional\)/);
    }
    assert.deepEqual(Array.from(tf.tensor([1, 2]).add(1).dataSync()), [2, 3]);
  });

  it('TF_BACKEND=cpu forces the plain JavaScript backend', async () => {
    const { tf, backend } = await loadTensorflow('cpu');
    assert.equal(backend, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });

  it(
    'a forced backend that cannot start is an error naming it',
    { skip: nativeInstalled() && 'tfjs-node is installed here' },
    async () => {
      await assert.rejects(
        loadTensorflow('tensorflow'),
        /TF_BACKEND=tensorflow cannot be used \(tensorflow: @tensorflow\/tfjs-node is not installed \(optional\)\)/,
      );
    },
  );
});
