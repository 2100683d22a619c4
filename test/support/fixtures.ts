/** Test support: temporary folders, and photo folders made from the tests' photos. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstPerClass, TEST_PHOTOS, type GroceryDataset } from './shared';

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `ml-trainer-${prefix}-`));
}

/**
 * A temporary folder for an embedded PostgreSQL (its cluster goes to `<folder>/postgres`). Open to others, because
 * as root the server runs as the `postgres` account, which must reach it.
 */
export async function postgresFolder(): Promise<string> {
  const folder = await tempDir('postgres');
  await fs.chmod(folder, 0o755);
  return folder;
}

/**
 * Copies the first `k` train photos of each class (of the tests' rendered photos, or of `dataset`) into
 * `root/<class name>/`; returns the folder names in order.
 */
export async function groceryFolder(
  root: string,
  classIds: number[],
  k: number,
  skip = 0,
  dataset: GroceryDataset = TEST_PHOTOS,
): Promise<string[]> {
  const names = dataset.classNames();
  const photos = firstPerClass(
    dataset.photos('train').filter((p) => classIds.includes(p.classId)),
    skip + k,
  );
  const seen = new Map<number, number>();
  for (const photo of photos) {
    const n = seen.get(photo.classId) ?? 0;
    seen.set(photo.classId, n + 1);
    if (n < skip) continue;
    const dir = path.join(root, names.get(photo.classId)!);
    await fs.mkdir(dir, { recursive: true });
    await fs.copyFile(photo.file, path.join(dir, path.basename(photo.file)));
  }
  return classIds.map((id) => names.get(id)!).sort();
}
