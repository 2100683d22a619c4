import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DatasetError, type Dataset } from './dataset.types';

/**
 * A folder with one sub-folder per label (the sub-folder's name is the label), photos inside. Labels are sorted by
 * name so the same folder always gives the same label order; hidden entries are ignored.
 */
export async function readImageFolder(root: string): Promise<Dataset> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new DatasetError(`cannot read the images folder ${root}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const labelDirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const dataset: Dataset = { labels: [], images: [], skipped: [], warnings: [] };
  const looseFiles = entries.filter((e) => e.isFile() && !e.name.startsWith('.')).length;
  if (looseFiles) {
    dataset.warnings.push(`${looseFiles} file(s) directly in ${root} ignored: photos belong in one sub-folder per label`);
  }
  for (const dir of labelDirs) {
    const label = dataset.labels.length;
    dataset.labels.push({ id: dir, name: dir });
    const files = (await fs.readdir(path.join(root, dir), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    for (const file of files) dataset.images.push({ label, name: path.join(dir, file), path: path.join(root, dir, file) });
  }
  if (labelDirs.length === 0) {
    throw new DatasetError(`the images folder ${root} has no sub-folders: put each label's photos in a folder named after it`);
  }
  return dataset;
}
