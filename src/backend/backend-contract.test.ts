/** Unit tests of the backend contract: URLs, the manifest request, status and upload bodies, GraphQL answers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  completeTrainingForm,
  GraphqlError,
  graphqlResult,
  manifestRequest,
  manifestUrlFor,
  queryWithoutScans,
  statusBody,
  UPDATE_STATUS_MUTATION,
} from './backend-contract';

describe('backend GraphQL contract', () => {
  it('splits the backend’s manifest URL into endpoint and query (not URL-encoded, or encoded)', () => {
    const query =
      'query{mlTrainingManifest(channelId:"2"){channelId,version,extractedAt,products{productId,productName,images{assetId,url,filename}}}}';
    assert.deepEqual(manifestRequest(`http://backend:3000/admin-api?query=${query}`), {
      endpoint: 'http://backend:3000/admin-api',
      query,
    });
    assert.deepEqual(manifestRequest(`http://backend:3000/admin-api?query=${encodeURIComponent(query)}`).query, query);
    assert.throws(() => manifestRequest('http://backend:3000/admin-api'), /no \?query= part/);
  });

  it("asks for the till's scans, and without them only when the backend's schema lacks them", () => {
    const { query } = manifestRequest(manifestUrlFor('http://backend:3000/', 'c"1'));
    assert.equal(
      query,
      'query{mlTrainingManifest(channelId:"c\\"1"){channelId,version,extractedAt,products{productId,productName,' +
        'images{assetId,url,filename}},scans{assetId,url,filename,productId,takenAt}}}',
    );
    const refusal = 'Cannot query field "scans" on type "MlTrainingManifest".';
    assert.equal(
      queryWithoutScans(query, refusal),
      'query{mlTrainingManifest(channelId:"c\\"1"){channelId,version,extractedAt,products{productId,productName,' +
        'images{assetId,url,filename}}}}',
    );
    assert.equal(queryWithoutScans(query, 'No channel with id c"1'), null, 'another refusal stands');
    assert.equal(
      queryWithoutScans('query{mlTrainingManifest{channelId}}', refusal),
      null,
      'not asked: nothing to drop',
    );
  });

  it('builds the status mutation with the backend’s words, progress clamped and errors kept short', () => {
    assert.deepEqual(statusBody('2', 'training', 42.6, null), {
      query: UPDATE_STATUS_MUTATION,
      variables: { channelId: '2', status: 'training', progress: 43, error: null },
    });
    assert.equal(statusBody('2', 'failed', null, 'x'.repeat(900)).variables.error!.length, 500);
    assert.equal(statusBody('2', 'training', 140, null).variables.progress, 100);
  });

  it('builds the multipart upload with operations, map, then the three files in order', () => {
    const form = completeTrainingForm('2', {
      modelJson: Buffer.from('{}'),
      weightsFile: Buffer.from([1, 2]),
      metadata: Buffer.from('{}'),
    });
    assert.deepEqual([...form.keys()], ['operations', 'map', '0', '1', '2']);
    assert.deepEqual(JSON.parse(form.get('map') as string), {
      0: ['variables.modelJson'],
      1: ['variables.weightsFile'],
      2: ['variables.metadata'],
    });
    assert.equal((form.get('1') as File).name, 'weights.bin');
  });

  it('reads GraphQL answers: data, or the errors’ messages', () => {
    assert.equal(graphqlResult({ data: { completeTraining: true } }, 'completeTraining'), true);
    assert.throws(() => graphqlResult({ errors: [{ message: 'a' }, { message: 'b' }] }, 'x'), new GraphqlError('a; b'));
    assert.throws(() => graphqlResult({ data: {} }, 'x'), /no data.x/);
    assert.throws(() => graphqlResult('<html>', 'x'), /no data.x/);
  });
});
