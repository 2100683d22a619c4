/** Embeddings cached on disk by photo content and base model, so a retrain embeds only new photos. */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stagingPath } from '../common/staging';
import { PREPROCESS_VERSION, type View } from '../dataset/preprocess';
import { EMBEDDING_SIZE } from '../config/model-shape';

const EMBEDDING_BYTES = EMBEDDING_SIZE * 4;
/** Each file ends with the sha256 of its key and floats: an entry proves its integrity, and that it is its key's. */
const CHECKSUM_BYTES = 32;

/**
 * Embeddings on disk, one small file each, keyed by (what produced them: base model and engine, image sha256,
 * preprocessing version, view), so retraining after a few new photos only embeds the new ones. Writes are atomic
 * (temp file + rename). An entry that is damaged (wrong size, checksum, or a value that is not finite) is removed and
 * reported as missing, so the photo is embedded again.
 */
export class EmbeddingCache {
  constructor(
    private readonly dir: string,
    /** What makes the embeddings: the base model's sha256 and the engine (with its graph's sha256). */
    private readonly producer: string,
  ) {}

  key(imageSha256: string, view: View): string {
    return createHash('sha256')
      .update(`${this.producer}\n${imageSha256}\n${PREPROCESS_VERSION}\n${view}`)
      .digest('hex');
  }

  async get(key: string): Promise<Float32Array | undefined> {
    const file = this.file(key);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch {
      return undefined;
    }
    const embedding = intactEmbedding(key, bytes);
    if (!embedding) await this.remove(key);
    return embedding;
  }

  async remove(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }

  /**
   * Stores an embedding; one with a value that is not finite is refused (the caller's error says where it came from).
   * A cache is a cache: when its disk refuses the write (full, read-only), nothing of it stays and the reason is
   * returned (null: stored).
   */
  async put(key: string, embedding: Float32Array): Promise<string | null> {
    if (!embedding.every(Number.isFinite)) throw new Error('an embedding with a value that is not finite');
    const file = this.file(key);
    const temp = stagingPath(file, 'tmp');
    const floats = new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(temp, Buffer.concat([floats, checksum(key, floats)]));
      await fs.rename(temp, file);
      return null;
    } catch (err) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
  }

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.f32`);
  }
}

function checksum(key: string, floats: Uint8Array): Buffer {
  return createHash('sha256').update(key).update(floats).digest();
}

/** The embedding a cache file holds, or undefined when the file is not one intact embedding of `key`. */
function intactEmbedding(key: string, bytes: Buffer): Float32Array | undefined {
  if (bytes.length !== EMBEDDING_BYTES + CHECKSUM_BYTES) return undefined;
  const floats = bytes.subarray(0, EMBEDDING_BYTES);
  if (!checksum(key, floats).equals(bytes.subarray(EMBEDDING_BYTES))) return undefined;
  const embedding = new Float32Array(floats.buffer.slice(floats.byteOffset, floats.byteOffset + EMBEDDING_BYTES));
  return embedding.every(Number.isFinite) ? embedding : undefined;
}
