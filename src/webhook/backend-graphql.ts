/**
 * The backend's GraphQL contract for status and upload, as plain data: request bodies and the reading of answers.
 * No I/O here; the BackendClient sends what these build.
 */

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
