/** Unit tests of telling an unreachable database from a refused statement. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { isDatabaseUnreachable } from './database-errors';

function serverError(code: string): DatabaseError {
  return Object.assign(new DatabaseError('from the server', 0, 'error'), { code });
}

describe('database errors', () => {
  it('tells an unreachable database from an answer about the statement', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    assert.equal(isDatabaseUnreachable(refused), true);
    assert.equal(isDatabaseUnreachable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnreachable(new QueryFailedError('UPDATE', [], serverError('57P01'))), true);
    assert.equal(isDatabaseUnreachable(new QueryFailedError('UPDATE', [], serverError('08006'))), true);
    assert.equal(isDatabaseUnreachable(serverError('57P03')), true, 'the server is starting up');
    assert.equal(isDatabaseUnreachable(new QueryFailedError('UPDATE', [], serverError('22P05'))), false, 'bad text');
    assert.equal(isDatabaseUnreachable(new QueryFailedError('INSERT', [], serverError('23505'))), false);
  });
});
