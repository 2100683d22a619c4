/**
 * A stand-in for the point-of-sale backend (Dukarun on Vendure): a small GraphQL server on 127.0.0.1 that implements
 * the three operations ml-trainer calls, with the backend's Bearer check, serves product photos from test/fixtures,
 * and records everything it receives.
 */
import { promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as path from 'node:path';
import busboy from 'busboy';
import { buildSchema, graphql } from 'graphql';
import { firstPerClass, FIXTURES_DIR, TEST_PHOTOS } from './shared';
import { closeServer, listenOnLoopback } from './loopback';

const schema = buildSchema(`
  scalar Upload
  type MlTrainingImage { assetId: ID!, url: String!, filename: String }
  type MlTrainingProduct { productId: ID!, productName: String!, images: [MlTrainingImage!]! }
  type MlTrainingManifest { channelId: ID!, version: String!, extractedAt: String!, products: [MlTrainingProduct!]! }
  type Query { mlTrainingManifest(channelId: ID!): MlTrainingManifest }
  type Mutation {
    updateTrainingStatus(channelId: ID!, status: String!, progress: Int, error: String): Boolean!
    completeTraining(channelId: ID!, modelJson: Upload!, weightsFile: Upload!, metadata: Upload!): Boolean!
  }
`);

export interface ManifestImage {
  assetId: string;
  url: string;
  filename: string;
}
export interface ManifestProduct {
  productId: string;
  productName: string;
  images: ManifestImage[];
}
export interface StatusCall {
  channelId: string;
  status: string;
  progress: number | null;
  error: string | null;
  at: number;
}
export interface UploadedFile {
  field: string;
  filename: string;
  mimeType: string;
  bytes: Buffer;
}
export interface Upload {
  channelId: string;
  /** Multipart part names in the order they arrived. */
  partOrder: string[];
  operations: { query: string; variables: Record<string, unknown> };
  map: Record<string, string[]>;
  modelJson: UploadedFile;
  weightsFile: UploadedFile;
  metadata: UploadedFile;
}

/**
 * How the fake answers an upload: accepts it, an HTTP status, GraphQL errors, `completeTraining: false`,
 * `unreachable` (the connection dropped unanswered, as a backend that is down), `redirect-elsewhere` (307 to this
 * same server under the name `localhost`, a host jobs are not allowed) or `accept-silently` (recorded as accepted,
 * never answered: the backend took the model but its answer is not yet out).
 */
export type UploadOutcome =
  'ok' | number | 'graphql-errors' | 'false' | 'unreachable' | 'redirect-elsewhere' | 'accept-silently';

const UNAUTHORIZED = 'You are not currently authorized to perform this action';

export class FakeBackend {
  url = '';
  readonly manifests = new Map<string, ManifestProduct[] | { graphqlError: string }>();
  readonly statusCalls: StatusCall[] = [];
  readonly uploads: Upload[] = [];
  /** Outcomes of the next upload attempts, consumed in order; `uploadDefault` after that. */
  readonly uploadScript: UploadOutcome[] = [];
  uploadDefault: UploadOutcome = 'ok';
  uploadAttempts = 0;
  statusDefault: 'ok' | number | 'graphql-errors' = 'ok';
  /** Delay before each photo is served, to make a job last long enough to be interrupted. */
  photoDelayMs = 0;
  /** Every request's method, path and Authorization header. */
  readonly requests: { method: string; path: string; authorization: string | undefined }[] = [];
  private server?: Server;

  constructor(readonly token: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  get webhookUrl(): string {
    return `${this.url}/admin-api`;
  }

  /** The manifest URL exactly as the backend builds it (not URL-encoded). */
  manifestUrl(channelId: string): string {
    return `${this.url}/admin-api?query=query{mlTrainingManifest(channelId:"${channelId}"){channelId,version,extractedAt,products{productId,productName,images{assetId,url,filename}}}}`;
  }

  /** Products of a manifest: the first `k` train photos of each of the given grocery classes, served from here. */
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
          url: this.photoUrl(path.relative(FIXTURES_DIR, p.file)),
          filename: path.basename(p.file),
        })),
    }));
  }

  /** Public URL of a photo of the test fixtures (path relative to test/fixtures). */
  photoUrl(relativePath: string): string {
    return `${this.url}/assets/${relativePath.split('/').map(encodeURIComponent).join('/')}`;
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    this.requests.push({ method: req.method!, path: url.pathname, authorization: req.headers.authorization });
    if (req.method === 'GET' && url.pathname.startsWith('/assets/'))
      return this.servePhoto(url.pathname.slice('/assets/'.length), res);
    if (url.pathname !== '/admin-api' || req.method !== 'POST') {
      res.statusCode = 404;
      return void res.end();
    }
    const authorized = req.headers.authorization === `Bearer ${this.token}`;
    if ((req.headers['content-type'] ?? '').startsWith('multipart/form-data'))
      return this.handleUpload(req, res, authorized);
    const body = JSON.parse((await readBody(req)).toString('utf8')) as {
      query: string;
      variables?: Record<string, unknown>;
    };
    if (/updateTrainingStatus/.test(body.query) && this.statusDefault !== 'ok') {
      if (typeof this.statusDefault === 'number') return sendJson(res, this.statusDefault, { error: 'unavailable' });
      return sendJson(res, 200, { errors: [{ message: 'status rejected' }] });
    }
    sendJson(res, 200, await this.execute(body.query, body.variables ?? {}, authorized));
  }

  private async handleUpload(req: IncomingMessage, res: ServerResponse, authorized: boolean): Promise<void> {
    this.uploadAttempts++;
    const partOrder: string[] = [];
    const fields: Record<string, string> = {};
    const files: Record<string, UploadedFile> = {};
    await new Promise<void>((resolve, reject) => {
      const parser = busboy({ headers: req.headers });
      parser.on('field', (name, value) => {
        partOrder.push(name);
        fields[name] = value;
      });
      parser.on('file', (name, stream, info) => {
        partOrder.push(name);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on(
          'end',
          () =>
            (files[name] = {
              field: name,
              filename: info.filename ?? '',
              mimeType: info.mimeType,
              bytes: Buffer.concat(chunks),
            }),
        );
      });
      parser.on('close', resolve);
      parser.on('error', reject);
      req.pipe(parser);
    });
    const outcome = this.uploadScript.shift() ?? this.uploadDefault;
    if (typeof outcome === 'number') return sendJson(res, outcome, { error: `HTTP ${outcome}` });
    if (outcome === 'unreachable') return void req.socket.destroy();
    if (outcome === 'redirect-elsewhere') {
      res.writeHead(307, { location: `${this.url.replace('127.0.0.1', 'localhost')}/admin-api` });
      return void res.end();
    }
    if (outcome === 'graphql-errors')
      return sendJson(res, 200, { errors: [{ message: 'upload rejected by the backend' }] });
    const operations = JSON.parse(fields.operations) as Upload['operations'];
    const map = JSON.parse(fields.map) as Record<string, string[]>;
    const variables = { ...operations.variables };
    for (const [part, targets] of Object.entries(map)) {
      for (const target of targets) variables[target.replace(/^variables\./, '')] = files[part];
    }
    const result = await this.execute(operations.query, variables, authorized);
    if (!result.errors) {
      this.uploads.push({
        channelId: String(variables.channelId),
        partOrder,
        operations,
        map,
        modelJson: variables.modelJson as UploadedFile,
        weightsFile: variables.weightsFile as UploadedFile,
        metadata: variables.metadata as UploadedFile,
      });
      if (outcome === 'false') return sendJson(res, 200, { data: { completeTraining: false } });
      if (outcome === 'accept-silently') return;
    }
    sendJson(res, 200, result);
  }

  private async execute(source: string, variableValues: Record<string, unknown>, authorized: boolean) {
    const rootValue = {
      mlTrainingManifest: ({ channelId }: { channelId: string }) => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        const manifest = this.manifests.get(channelId);
        if (!manifest) throw new Error(`No channel with id ${channelId}`);
        if ('graphqlError' in manifest) throw new Error(manifest.graphqlError);
        return { channelId, version: '7', extractedAt: new Date().toISOString(), products: manifest };
      },
      updateTrainingStatus: (args: { channelId: string; status: string; progress?: number; error?: string }) => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        this.statusCalls.push({
          channelId: args.channelId,
          status: args.status,
          progress: args.progress ?? null,
          error: args.error ?? null,
          at: Date.now(),
        });
        return true;
      },
      completeTraining: () => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        return true;
      },
    };
    const result = await graphql({ schema, source, variableValues, rootValue });
    return JSON.parse(
      JSON.stringify({ data: result.data ?? undefined, errors: result.errors?.map((e) => ({ message: e.message })) }),
    );
  }

  private async servePhoto(relative: string, res: ServerResponse): Promise<void> {
    if (this.photoDelayMs) await new Promise((resolve) => setTimeout(resolve, this.photoDelayMs));
    const decoded = relative.split('/').map(decodeURIComponent);
    if (decoded[0] === 'corrupt.jpg') return void res.end('definitely not a jpeg');
    if (decoded[0] === 'trickle.jpg') {
      // One byte a second until the client hangs up.
      res.write(Buffer.from([0xff]));
      const timer = setInterval(() => res.write(Buffer.from([0xd8])), 1000);
      return void res.on('close', () => clearInterval(timer));
    }
    const file = path.join(FIXTURES_DIR, ...decoded);
    if (!file.startsWith(FIXTURES_DIR + path.sep)) {
      res.statusCode = 400;
      return void res.end();
    }
    try {
      const bytes = await fs.readFile(file);
      res.setHeader('content-type', 'image/jpeg');
      res.end(bytes);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}
