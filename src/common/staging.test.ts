/** Unit tests of staging names and the removal of what dead processes left behind. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FOREIGN_STAGING_MAX_AGE_MS, removeStaleStaging, stagingPath } from './staging';

describe('staging', () => {
  let dir: string;
  before(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'staging-'))));
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('names the host and the process that stage a file', () => {
    const name = path.basename(stagingPath(path.join(dir, 'bank'), 'photos'));
    assert.match(name, new RegExp(`^bank\\.photos~${os.hostname()}~${process.pid}~[0-9a-f-]{36}$`));
  });

  it("removes a dead process's leftovers and another host's old ones, and nothing a live process may be writing", async () => {
    const now = Date.now();
    const entry = async (name: string, ageMs = 0) => {
      await fs.mkdir(path.join(dir, name));
      await fs.writeFile(path.join(dir, name, 'x'), 'x');
      const at = new Date(now - ageMs);
      await fs.utimes(path.join(dir, name), at, at);
      return name;
    };
    const uuid = () => randomUUID();
    const dead = await entry(`bank.photos~here~4000~${uuid()}`);
    const deadOld = await entry(`bank.tmp~here~4001~${uuid()}`, 3 * FOREIGN_STAGING_MAX_AGE_MS);
    const alive = await entry(`bank.photos~here~4242~${uuid()}`, 3 * FOREIGN_STAGING_MAX_AGE_MS);
    const mine = await entry(`bank.photos~here~${process.pid}~${uuid()}`);
    const foreignRecent = await entry(`bank.photos~there~4000~${uuid()}`, FOREIGN_STAGING_MAX_AGE_MS / 2);
    const foreignOld = await entry(`bank.photos~there~4000~${uuid()}`, 2 * FOREIGN_STAGING_MAX_AGE_MS);
    const bank = await entry('0123456789abcdef-0123456789abcdef');
    const removed = await removeStaleStaging(dir, { host: 'here', isAlive: (pid) => pid === 4242, now });
    assert.deepEqual(removed.sort(), [dead, deadOld, foreignOld].sort());
    assert.deepEqual((await fs.readdir(dir)).sort(), [alive, mine, foreignRecent, bank].sort());
    assert.deepEqual(await removeStaleStaging(path.join(dir, 'absent')), [], 'no folder, nothing to do');
  });
});
