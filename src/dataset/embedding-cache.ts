/** Embeddings cached on disk by photo content and base model, so a retrain embeds only new photos. */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PREPROCESS_VERSION, type View } from './preprocess';
import { EMBEDDING_SIZE } from '../common/model-shape';

const EMBEDDING_BYTES = EMBEDDING_SIZE * 4;

/**
 * Embeddings on disk, one small file each, keyed by (base model identity, image sha256, preprocessing version, view),
 * so retraining after a few new photos only embeds the new ones. Writes are atomic (temp file + rename).
 */
export class EmbeddingCache {
  constructor(
    private readonly dir: string,
    private readonly baseModelSha256: string,
  ) {}

  key(imageSha256: string, view: View): string {
    return createHash('sha256')
      .update(`${this.baseModelSha256}\n${imageSha256}\n${PREPROCESS_VERSION}\n${view}`)
      .digest('hex');
  }

  async get(key: string): Promise<Float32Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.file(key));
    } catch {
      return undefined;
    }
    if (bytes.length !== EMBEDDING_BYTES) return undefined;
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }

  async put(key: string, embedding: Float32Array): Promise<void> {
    const file = this.file(key);
    const temp = `${file}.${randomUUID()}.tmp`;
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(temp, new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength));
    await fs.rename(temp, file);
  }

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.f32`);
  }
}
