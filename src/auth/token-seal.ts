/** Seals the backend token a job carries before it is stored (AES-GCM keyed by ML_SERVICE_TOKEN), and opens it. */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** Key used when no ML_SERVICE_TOKEN is configured (development only: production refuses to start without one). */
const DEVELOPMENT_SECRET = 'ml-trainer development secret';

/**
 * Seals the backend's per-job token for storage in the job record (AES-256-GCM, key derived from
 * ML_SERVICE_TOKEN), so that the database holds no usable credential and a restarted process can still call back.
 */
export class TokenSeal {
  private readonly key: Buffer;

  constructor(secret: string | undefined) {
    this.key = Buffer.from(hkdfSync('sha256', secret ?? DEVELOPMENT_SECRET, 'ml-trainer', 'job auth token', 32));
  }

  seal(token: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /** Throws when the sealed value was made with another secret or altered. */
  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('not a sealed token');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}
