/** Files the project ships beside its code (the negative bank, …), found from the package root wherever it runs. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** The folder with the project's package.json: `dist/…`, `dist-test/…` and ts-node runs all sit below it. */
export const PROJECT_ROOT = (() => {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
})();

export function projectFile(...parts: string[]): string {
  return path.join(PROJECT_ROOT, ...parts);
}
