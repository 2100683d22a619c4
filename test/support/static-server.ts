/** Test support: a static loopback server for the browser tests' pages. */
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as path from 'node:path';
import { closeServer, listenOnLoopback } from '../../src/common/loopback';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
};

/** Serves fixed routes (path → file or content) on 127.0.0.1, for pages the browser tests open. */
export class StaticServer {
  url = '';
  private server?: Server;

  constructor(private readonly routes: Map<string, string | Buffer>) {}

  async start(): Promise<this> {
    this.server = createServer(async (req, res) => {
      const route = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      const target = this.routes.get(route);
      if (target === undefined) {
        res.statusCode = 404;
        return void res.end();
      }
      res.setHeader('content-type', TYPES[path.extname(route)] ?? 'application/octet-stream');
      res.end(typeof target === 'string' ? await fs.readFile(target) : target);
    });
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
