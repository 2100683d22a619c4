/**
 * A stand-in for the point-of-sale backend (Dukarun on Vendure): a small GraphQL server on 127.0.0.1 with the three
 * operations ml-trainer calls (the manifest query, the status and upload mutations) behind the backend's Bearer
 * check, which serves product photos from a folder and records what it receives. `npm run demo` trains against it;
 * the tests' FakeBackend adds failures to it.
 */
import { promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as path from 'node:path';
import busboy from 'busboy';
import { buildSchema, graphql } from 'graphql';
import { manifestUrlFor } from '../backend/backend-contract';
import { closeServer, listenOnLoopback } from '../common/loopback';

/** The backend's schema; `withScans: false` is a backend that does not send the till's confirmed scans yet. */
function schemaOf(withScans: boolean) {
  return buildSchema(`
  scalar Upload
  type MlTrainingImage { assetId: ID!, url: String!, filename: String }
  type MlTrainingProduct { productId: ID!, productName: String!, images: [MlTrainingImage!]! }
  type MlTrainingScan { assetId: ID!, url: String!, filename: String, productId: ID, takenAt: String }
  type MlTrainingManifest {
    channelId: ID!, version: String!, extractedAt: String!, products: [MlTrainingProduct!]!
    ${withScans ? 'scans: [MlTrainingScan!]!' : ''}
  }
  type Query { mlTrainingManifest(channelId: ID!): MlTrainingManifest }
  type Mutation {
    updateTrainingStatus(channelId: ID!, status: String!, progress: Int, error: String): Boolean!
    completeTraining(channelId: ID!, modelJson: Upload!, weightsFile: Upload!, metadata: Upload!): Boolean!
  }
`);
}

export interface ManifestImage {
  assetId: string;
  url: string;
  filename: string;
}
/** A scan the till's cashier confirmed: productId null when confirmed as none of the products. */
export interface ManifestScan extends ManifestImage {
  productId: string | null;
  takenAt: string;
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

/** A received upload, parsed: the answer to it is the subclass's to choose (see FakeBackend). */
export interface ReceivedUpload {
  req: IncomingMessage;
  res: ServerResponse;
  fields: Record<string, string>;
  files: Record<string, UploadedFile>;
  partOrder: string[];
  authorized: boolean;
}

const UNAUTHORIZED = 'You are not currently authorized to perform this action';

export class StandInBackend {
  url = '';
  readonly manifests = new Map<string, ManifestProduct[] | { graphqlError: string }>();
  /** The till's confirmed scans per channel (none: an empty list). */
  readonly scans = new Map<string, ManifestScan[]>();
  readonly statusCalls: StatusCall[] = [];
  readonly uploads: Upload[] = [];
  /** Every request's method, path and Authorization header. */
  readonly requests: { method: string; path: string; authorization: string | undefined }[] = [];
  /** Hears every status and upload as it is recorded (the demo prints them). */
  onStatus?: (call: StatusCall) => void;
  onUpload?: (upload: Upload) => void;
  private server?: Server;

  private readonly schema;

  /** `photosRoot`: the folder whose files are served at /assets/; `withScans: false` has no `scans` in its schema. */
  constructor(
    readonly token: string,
    readonly photosRoot: string,
    options: { withScans?: boolean } = {},
  ) {
    this.schema = schemaOf(options.withScans ?? true);
  }

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

  /** Stops listening, cutting the connections still open. */
  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  get webhookUrl(): string {
    return `${this.url}/admin-api`;
  }

  /** The manifest URL exactly as the backend builds it (not URL-encoded). */
  manifestUrl(channelId: string): string {
    return manifestUrlFor(this.url, channelId);
  }

  /** Public URL of a file under `photosRoot` (its relative path). */
  photoUrl(relativePath: string): string {
    return `${this.url}/assets/${relativePath.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** A status mutation's answer when it is not the plain one (FakeBackend fails them); undefined answers normally. */
  protected statusAnswer(): { status: number; body: unknown } | undefined {
    return undefined;
  }

  /** Answers an upload: records and accepts it (FakeBackend may fail it instead). */
  protected async answerUpload(upload: ReceivedUpload): Promise<void> {
    const result = await this.completeUpload(upload);
    sendJson(upload.res, 200, result);
  }

  /** Runs the upload's mutation (recording the upload when it is accepted) and returns the GraphQL answer. */
  protected async completeUpload({ fields, files, partOrder, authorized }: ReceivedUpload) {
    const operations = JSON.parse(fields.operations) as Upload['operations'];
    const map = JSON.parse(fields.map) as Record<string, string[]>;
    const variables = { ...operations.variables };
    for (const [part, targets] of Object.entries(map)) {
      for (const target of targets) variables[target.replace(/^variables\./, '')] = files[part];
    }
    const result = await this.execute(operations.query, variables, authorized);
    if (!result.errors) {
      const upload: Upload = {
        channelId: String(variables.channelId),
        partOrder,
        operations,
        map,
        modelJson: variables.modelJson as UploadedFile,
        weightsFile: variables.weightsFile as UploadedFile,
        metadata: variables.metadata as UploadedFile,
      };
      this.uploads.push(upload);
      this.onUpload?.(upload);
    }
    return result;
  }

  /** Serves a photo under `photosRoot` (never outside it). */
  protected async servePhoto(relative: string, res: ServerResponse): Promise<void> {
    const file = path.join(this.photosRoot, ...relative.split('/').map(decodeURIComponent));
    if (!file.startsWith(this.photosRoot + path.sep)) {
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
      return this.answerUpload({ req, res, authorized, ...(await parseMultipart(req)) });
    const body = JSON.parse((await readBody(req)).toString('utf8')) as {
      query: string;
      variables?: Record<string, unknown>;
    };
    const override = /updateTrainingStatus/.test(body.query) ? this.statusAnswer() : undefined;
    if (override) return sendJson(res, override.status, override.body);
    sendJson(res, 200, await this.execute(body.query, body.variables ?? {}, authorized));
  }

  private async execute(source: string, variableValues: Record<string, unknown>, authorized: boolean) {
    const rootValue = {
      mlTrainingManifest: ({ channelId }: { channelId: string }) => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        const manifest = this.manifests.get(channelId);
        if (!manifest) throw new Error(`No channel with id ${channelId}`);
        if ('graphqlError' in manifest) throw new Error(manifest.graphqlError);
        return {
          channelId,
          version: '7',
          extractedAt: new Date().toISOString(),
          products: manifest,
          scans: this.scans.get(channelId) ?? [],
        };
      },
      updateTrainingStatus: (args: { channelId: string; status: string; progress?: number; error?: string }) => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        const call = {
          channelId: args.channelId,
          status: args.status,
          progress: args.progress ?? null,
          error: args.error ?? null,
          at: Date.now(),
        };
        this.statusCalls.push(call);
        this.onStatus?.(call);
        return true;
      },
      completeTraining: () => {
        if (!authorized) throw new Error(UNAUTHORIZED);
        return true;
      },
    };
    const result = await graphql({ schema: this.schema, source, variableValues, rootValue });
    return JSON.parse(
      JSON.stringify({ data: result.data ?? undefined, errors: result.errors?.map((e) => ({ message: e.message })) }),
    ) as { data?: Record<string, unknown>; errors?: { message: string }[] };
  }
}

/** A multipart request's fields and files, and the order of its parts. */
async function parseMultipart(req: IncomingMessage) {
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
  return { partOrder, fields, files };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}
