/** Reading GraphQL answers from the backend, shared by the manifest reader and the webhook client. */
import { TrainerError } from './errors';

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
