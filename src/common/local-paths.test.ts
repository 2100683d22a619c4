/** Unit tests of hiding the service's folders in text that leaves it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hideLocalPaths } from './local-paths';

describe('local paths', () => {
  it('replaces each configured folder by its setting, the innermost first', () => {
    const folders = {
      MODEL_CACHE_DIR: '/home/svc/.cache/ml-trainer',
      EMBEDDING_CACHE_DIR: '/home/svc/.cache/ml-trainer/embeddings/',
      WORK_DIR: '/tmp/jobs',
      DATA_DIR: '/',
    };
    assert.equal(
      hideLocalPaths(
        'protobuf error in /home/svc/.cache/ml-trainer/onnx/e1.v1.onnx; /home/svc/.cache/ml-trainer/embeddings/ab/x.f32; /tmp/jobs/1/photos/0',
        folders,
      ),
      'protobuf error in MODEL_CACHE_DIR/onnx/e1.v1.onnx; EMBEDDING_CACHE_DIR/ab/x.f32; WORK_DIR/1/photos/0',
    );
    assert.equal(hideLocalPaths('no path here', folders), 'no path here');
  });
});
