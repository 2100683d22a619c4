/**
 * The tests' stand-in for the point-of-sale backend: the demo's (src/demo/stand-in-backend.ts), serving the tests'
 * rendered photos, with failures on demand (uploads and status webhooks answered with errors, slow or hostile photos).
 */
import type { ServerResponse } from 'node:http';
import * as path from 'node:path';
import {
  sendJson,
  StandInBackend,
  type ManifestProduct,
  type ReceivedUpload,
  type StatusCall,
} from '../../src/demo/stand-in-backend';
import { firstPerClass, TEST_PHOTOS } from './shared';

export type { ManifestProduct, StatusCall, Upload, UploadedFile } from '../../src/demo/stand-in-backend';

/**
 * How the fake answers an upload: accepts it, an HTTP status, GraphQL errors, `completeTraining: false`,
 * `unreachable` (the connection dropped unanswered, as a backend that is down), `redirect-elsewhere` (307 to this
 * same server under the name `localhost`, a host jobs are not allowed) or `accept-silently` (recorded as accepted,
 * never answered: the backend took the model but its answer is not yet out) or `not-json` (recorded as accepted, then
 * answered HTTP 200 with a body that is not JSON).
 */
export type UploadOutcome =
  'ok' | number | 'graphql-errors' | 'false' | 'unreachable' | 'redirect-elsewhere' | 'accept-silently' | 'not-json';

export class FakeBackend extends StandInBackend {
  /** Outcomes of the next upload attempts, consumed in order; `uploadDefault` after that. */
  readonly uploadScript: UploadOutcome[] = [];
  uploadDefault: UploadOutcome = 'ok';
  uploadAttempts = 0;
  statusDefault: 'ok' | number | 'graphql-errors' = 'ok';
  /** Delay before each photo is served, to make a job last long enough to be interrupted. */
  photoDelayMs = 0;

  constructor(token: string) {
    super(token, TEST_PHOTOS.root);
  }

  /** Products of a manifest: the first `k` train photos of each of the given classes, served from here. */
  groceryProducts(classIds: number[], k: number): ManifestProduct[] {
    const names = TEST_PHOTOS.classNames();
    const photos = firstPerClass(
      TEST_PHOTOS.photos('train').filter((p) => classIds.includes(p.classId)),
      k,
    );
    return classIds.map((classId) => ({
      productId: `product-${classId}`,
      productName: names.get(classId)!,
      images: photos
        .filter((p) => p.classId === classId)
        .map((p, i) => ({
          assetId: `${classId}-${i}`,
          url: this.photoUrl(path.relative(TEST_PHOTOS.root, p.file)),
          filename: path.basename(p.file),
        })),
    }));
  }

  statusesOf(channelId: string): StatusCall[] {
    return this.statusCalls.filter((s) => s.channelId === channelId);
  }

  /**
   * The channel's last status once it is `failed`: a job's record says failed just before the webhook goes out, so a
   * test that saw the record waits a moment for the backend to hear it.
   */
  async lastFailedStatus(channelId: string, timeoutMs = 10_000): Promise<StatusCall> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = this.statusesOf(channelId).at(-1);
      if (last?.status === 'failed') return last;
      if (Date.now() > deadline)
        throw new Error(`channel ${channelId}'s last status is ${last?.status ?? 'none'}, not failed`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  protected override statusAnswer() {
    if (this.statusDefault === 'ok') return undefined;
    if (typeof this.statusDefault === 'number') return { status: this.statusDefault, body: { error: 'unavailable' } };
    return { status: 200, body: { errors: [{ message: 'status rejected' }] } };
  }

  protected override async answerUpload(upload: ReceivedUpload): Promise<void> {
    this.uploadAttempts++;
    const { req, res } = upload;
    const outcome = this.uploadScript.shift() ?? this.uploadDefault;
    if (typeof outcome === 'number') return sendJson(res, outcome, { error: `HTTP ${outcome}` });
    if (outcome === 'unreachable') return void req.socket.destroy();
    if (outcome === 'redirect-elsewhere') {
      res.writeHead(307, { location: `${this.url.replace('127.0.0.1', 'localhost')}/admin-api` });
      return void res.end();
    }
    if (outcome === 'graphql-errors')
      return sendJson(res, 200, { errors: [{ message: 'upload rejected by the backend' }] });
    const result = await this.completeUpload(upload);
    if (!result.errors && outcome === 'false') return sendJson(res, 200, { data: { completeTraining: false } });
    if (!result.errors && outcome === 'accept-silently') return;
    if (!result.errors && outcome === 'not-json') return void res.end('OK');
    sendJson(res, 200, result);
  }

  protected override async servePhoto(relative: string, res: ServerResponse): Promise<void> {
    if (this.photoDelayMs) await new Promise((resolve) => setTimeout(resolve, this.photoDelayMs));
    if (relative === 'corrupt.jpg') return void res.end('definitely not a jpeg');
    if (relative === 'trickle.jpg') {
      // One byte a second until the client hangs up.
      res.write(Buffer.from([0xff]));
      const timer = setInterval(() => res.write(Buffer.from([0xd8])), 1000);
      return void res.on('close', () => clearInterval(timer));
    }
    return super.servePhoto(relative, res);
  }
}
