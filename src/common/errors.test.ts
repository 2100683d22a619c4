/** Unit tests of the error base class and its final/retryable flag. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatasetError, ManifestUnavailableError } from '../dataset/dataset.types';
import { DownloadError } from '../dataset/image-downloader';
import { UploadError } from '../backend/backend-client.service';
import { FinalError, isFinal, TrainerError } from './errors';

describe('TrainerError', () => {
  it('is named after its class, and final only where another attempt cannot help', () => {
    assert.equal(new DatasetError('x').name, 'DatasetError');
    assert.equal(String(new UploadError('refused')), 'UploadError: refused');
    assert.equal(new DownloadError('HTTP 404', false).message, 'HTTP 404');
    assert.equal(isFinal(new DatasetError('fewer than two products')), true);
    assert.equal(isFinal(new UploadError('the backend refused the upload')), true);
    assert.equal(isFinal(new ManifestUnavailableError('HTTP 503')), false);
    assert.equal(isFinal(new TrainerError('other')), false);
    assert.equal(isFinal(new Error('a plain error')), false);
    assert.equal(isFinal({ final: true }), false, 'only our own errors say so');
    assert.ok(new UploadError('x') instanceof FinalError);
    assert.deepEqual(new TrainerError('outer', { cause: 'inner' }).cause, 'inner');
  });
});
