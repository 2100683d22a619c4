/**
 * `npm run build:bank`: writes the negative bank (src/training/negative-bank/) from the grocery train photos of the
 * classes in its bank-classes.txt, embedded with the shared base model in every BANK_VIEWS view. Needs ../shared.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { verifyModelFiles } from '../../src/training/ml/base-model';
import {
  BANK_EMBEDDINGS_FILE,
  BANK_MANIFEST_FILE,
  BANK_VIEWS,
  loadBankClasses,
  NEGATIVE_BANK_DIR,
  quantizeBank,
  type NegativeBankManifest,
} from '../../src/training/negative-bank/negative-bank';
import { REAL_BASE_MODEL_JSON, GROCERY } from '../support/shared';
import { embedGroceryPhotos } from './grocery-embeddings';
import { EMBEDDING_SIZE } from '../../src/common/model-shape';

async function main(): Promise<void> {
  const classes = new Set(await loadBankClasses());
  const photos = GROCERY.photos('train').filter((p) => classes.has(path.basename(path.dirname(p.file))));
  const embeddings = await embedGroceryPhotos(REAL_BASE_MODEL_JSON, photos, BANK_VIEWS, console.log);
  const flat = new Float32Array(photos.length * BANK_VIEWS.length * EMBEDDING_SIZE);
  embeddings.flat().forEach((e, row) => flat.set(e, row * EMBEDDING_SIZE));
  const { bytes, scale } = quantizeBank(flat);
  const manifest: NegativeBankManifest = {
    baseModelSha256: await verifyModelFiles(REAL_BASE_MODEL_JSON),
    views: [...BANK_VIEWS],
    photos: photos.length,
    scale,
    sources: photos.map((p) => path.relative(GROCERY.root, p.file)),
  };
  await fs.writeFile(path.join(NEGATIVE_BANK_DIR, BANK_EMBEDDINGS_FILE), bytes);
  await fs.writeFile(path.join(NEGATIVE_BANK_DIR, BANK_MANIFEST_FILE), JSON.stringify(manifest, null, 1) + '\n');
  console.log(
    `negative bank: ${classes.size} classes, ${photos.length} photos × ${BANK_VIEWS.length} views, ${bytes.length} bytes, scale ${scale}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
