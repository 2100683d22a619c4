/**
 * The point-of-sale backend's GraphQL contract, as plain data: its URLs, the manifest request, the status and upload
 * request bodies, and the reading of its answers. No I/O here; BackendClient sends what these build.
 */
import { TrainerError } from '../common/errors';
import { DatasetError } from '../dataset/dataset.types';

/** The backend's GraphQL endpoint, where scheduled jobs read the manifest and send status and the model. */
export function adminApiUrl(backendUrl: string): string {
  return `${backendUrl.replace(/\/+$/, '')}/admin-api`;
}

/** The manifest's selection of the till's confirmed scans: a backend whose schema lacks it is asked without it. */
export const SCANS_SELECTION = ',scans{assetId,url,filename,productId,takenAt}';

/** The backend's manifest query for a channel, as the backend itself builds it, the till's scans included. */
export function manifestUrlFor(backendUrl: string, channelId: string): string {
  return `${adminApiUrl(backendUrl)}?query=query{mlTrainingManifest(channelId:${JSON.stringify(channelId)}){channelId,version,extractedAt,products{productId,productName,images{assetId,url,filename}}${SCANS_SELECTION}}}`;
}

/**
 * The same query without the scans, when the backend refused it because its schema has no `scans` (GraphQL refuses a
 * field its schema lacks: "Cannot query field \"scans\" …"); null when the query did not ask for them or the
 * refusal is about something else.
 */
export function queryWithoutScans(query: string, refusal: string): string | null {
  if (!query.includes(SCANS_SELECTION) || !/Cannot query field "scans"/.test(refusal)) return null;
  return query.replace(SCANS_SELECTION, '');
}

/**
 * The backend hands out a manifest URL of the form `http://backend:3000/admin-api?query=query{mlTrainingManifest(…)}`
 * (the query not URL-encoded). It is fetched as a GraphQL POST: `{"query": <the query parameter>}` to the URL without
 * its query string.
 */
export function manifestRequest(manifestUrl: string): { endpoint: string; query: string } {
  const questionMark = manifestUrl.indexOf('?');
  if (questionMark < 0) throw new DatasetError('manifestUrl has no ?query= part');
  const endpoint = manifestUrl.slice(0, questionMark);
  const params = new URLSearchParams(manifestUrl.slice(questionMark + 1).replace(/\+/g, '%2B'));
  const query = params.get('query');
  if (!query) throw new DatasetError('manifestUrl has no query parameter');
  return { endpoint, query };
}

/** A GraphQL answer that reports failure (its `errors`, or a missing/false result). */
export class GraphqlError extends TrainerError {}

/**
 * The value of `data[field]`; GraphQL `errors` (which arrive with HTTP 200) become a GraphqlError carrying their
 * messages.
 */
export function graphqlResult(body: unknown, field: string): unknown {
  const answer = (typeof body === 'object' && body !== null ? body : {}) as {
    data?: Record<string, unknown> | null;
    errors?: { message?: unknown }[];
  };
  if (Array.isArray(answer.errors) && answer.errors.length) {
    const messages = answer.errors.map((e) => String(e?.message ?? 'unknown error')).join('; ');
    throw new GraphqlError(messages.slice(0, 1000));
  }
  if (!answer.data || !(field in answer.data)) throw new GraphqlError(`the answer has no data.${field}`);
  return answer.data[field];
}

/** The backend's own status words. */
export type BackendStatus = 'training' | 'failed';

export const UPDATE_STATUS_MUTATION =
  'mutation UpdateStatus($channelId: ID!, $status: String!, $progress: Int, $error: String) { updateTrainingStatus(channelId: $channelId, status: $status, progress: $progress, error: $error) }';

export const COMPLETE_TRAINING_MUTATION =
  'mutation CompleteTraining($channelId: ID!, $modelJson: Upload!, $weightsFile: Upload!, $metadata: Upload!) { completeTraining(channelId: $channelId, modelJson: $modelJson, weightsFile: $weightsFile, metadata: $metadata) }';

/** Longest error text sent to the backend: it shows it to the shop owner. */
export const MAX_STATUS_ERROR_LENGTH = 500;

export function statusBody(channelId: string, status: BackendStatus, progress: number | null, error: string | null) {
  return {
    query: UPDATE_STATUS_MUTATION,
    variables: {
      channelId,
      status,
      progress: progress === null ? null : Math.max(0, Math.min(100, Math.round(progress))),
      error: error === null ? null : error.slice(0, MAX_STATUS_ERROR_LENGTH),
    },
  };
}

export interface ModelFiles {
  modelJson: Uint8Array;
  weightsFile: Uint8Array;
  metadata: Uint8Array;
}

/**
 * A graphql-multipart-request-spec body: `operations`, then `map`, then the files 0 = model.json,
 * 1 = weights.bin, 2 = metadata.json, in that order.
 */
export function completeTrainingForm(channelId: string, files: ModelFiles): FormData {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({
      query: COMPLETE_TRAINING_MUTATION,
      variables: { channelId, modelJson: null, weightsFile: null, metadata: null },
    }),
  );
  form.append(
    'map',
    JSON.stringify({ 0: ['variables.modelJson'], 1: ['variables.weightsFile'], 2: ['variables.metadata'] }),
  );
  form.append('0', new Blob([files.modelJson], { type: 'application/json' }), 'model.json');
  form.append('1', new Blob([files.weightsFile], { type: 'application/octet-stream' }), 'weights.bin');
  form.append('2', new Blob([files.metadata], { type: 'application/json' }), 'metadata.json');
  return form;
}
