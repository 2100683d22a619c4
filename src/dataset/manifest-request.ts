import { DatasetError } from './dataset.types';

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
