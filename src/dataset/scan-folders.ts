/** The till's confirmed scans from folders (the CLI's --scans and --scans-none). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DatasetError, type DatasetLabel, type DatasetScan } from './dataset.types';
import { readImageFolder } from './image-folder';
import { keptNewestWarning, newestScans } from './manifest';

/**
 * Scans from `scansDir` (one sub-folder per product, named as the product's label) and `noneDir` (scans confirmed as
 * none of the products, in the folder itself); a sub-folder that names no product is left out with a warning. The
 * newest (by the file's modification time) are kept, as many as a manifest's.
 */
export async function readScanFolders(
  labels: DatasetLabel[],
  scansDir?: string,
  noneDir?: string,
): Promise<{ scans: DatasetScan[]; warnings: string[] }> {
  const warnings: string[] = [];
  const scans: DatasetScan[] = [];
  if (scansDir) {
    const folder = await readImageFolder(scansDir);
    warnings.push(...folder.warnings.map((w) => `scans: ${w}`));
    const labelOf = new Map(labels.map((l, i) => [l.id, i]));
    const unknown = folder.labels.filter((l) => !labelOf.has(l.id)).map((l) => l.id);
    if (unknown.length)
      warnings.push(`scans of ${unknown.join(', ')} left out: no product of that name among the photos`);
    for (const image of folder.images) {
      const label = labelOf.get(folder.labels[image.label].id);
      if (label !== undefined) scans.push({ label, name: `scan ${image.name}`, path: image.path, takenAt: null });
    }
  }
  if (noneDir) {
    let files: string[];
    try {
      const entries = await fs.readdir(noneDir, { withFileTypes: true });
      files = entries
        .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      throw new DatasetError(`cannot read the scans folder ${noneDir}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    for (const file of files)
      scans.push({ label: null, name: `scan ${file} (none)`, path: path.join(noneDir, file), takenAt: null });
  }
  const times = new Map(
    await Promise.all(
      scans.map(async (s) => [s, (await fs.stat(s.path).catch(() => undefined))?.mtimeMs ?? -Infinity] as const),
    ),
  );
  for (const scan of scans) scan.takenAt = Number.isFinite(times.get(scan)) ? times.get(scan)! : null;
  const { kept, dropped } = newestScans(scans, (s) => s.takenAt ?? -Infinity, labels.length);
  if (dropped) warnings.push(keptNewestWarning(kept.length, kept.length + dropped));
  return { scans: kept, warnings };
}
