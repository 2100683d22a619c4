/** Reads a folder of photos (one sub-folder per product) as a dataset. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DatasetError, type Dataset } from './dataset.types';

/**
 * A folder with one sub-folder per label (the sub-folder's name is the label), photos inside. Labels are sorted by
 * name so the same folder always gives the same label order; hidden entries are ignored; symbolic links are followed.
 */
export async function readImageFolder(root: string): Promise<Dataset> {
  let entries: Entry[];
  try {
    entries = await listEntries(root);
  } catch (err) {
    throw new DatasetError(`cannot read the images folder ${root}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const labelDirs = entries.filter((e) => e.kind === 'dir').map((e) => e.name);
  if (labelDirs.length === 0) {
    throw new DatasetError(
      `the images folder ${root} has no sub-folders: put each label's photos in a folder named after it`,
    );
  }
  const dataset: Dataset = { labels: [], images: [], skipped: [], warnings: [] };
  const looseFiles = entries.filter((e) => e.kind === 'file').length;
  if (looseFiles) {
    dataset.warnings.push(
      `${looseFiles} file(s) directly in ${root} ignored: photos belong in one sub-folder per label`,
    );
  }
  for (const dir of labelDirs) {
    const label = dataset.labels.length;
    dataset.labels.push({ id: dir, name: dir });
    for (const file of (await listEntries(path.join(root, dir))).filter((e) => e.kind === 'file')) {
      dataset.images.push({ label, name: path.join(dir, file.name), path: path.join(root, dir, file.name) });
    }
  }
  return dataset;
}

interface Entry {
  name: string;
  kind: 'dir' | 'file' | 'other';
}

/** Visible entries of a folder, sorted by name, with symbolic links resolved to what they point at. */
async function listEntries(dir: string): Promise<Entry[]> {
  const dirents = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const entries = await Promise.all(
    dirents.map(async (e): Promise<Entry> => {
      let target: { isDirectory(): boolean; isFile(): boolean } = e;
      if (e.isSymbolicLink()) target = await fs.stat(path.join(dir, e.name)).catch(() => e);
      return { name: e.name, kind: target.isDirectory() ? 'dir' : target.isFile() ? 'file' : 'other' };
    }),
  );
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
