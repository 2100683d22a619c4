/** Test support: a loopback server that answers like a hostile or broken peer. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import sharp from 'sharp';
import { pngDeclaring } from './images';
import { closeServer, listenOnLoopback } from '../../src/common/loopback';

/**
 * A server on 127.0.0.1 that answers photo requests with everything a hostile or broken peer can send:
 * decompression bombs, truncated and fake images, endless or trickling bodies, redirects to the cloud metadata
 * address and redirect loops. It counts what it served.
 */
export class HostilePeer {
  url = '';
  readonly hits = new Map<string, number>();
  /** Bytes each endless answer had sent when its client hung up (or all 100 MB). */
  readonly endlessSent: number[] = [];
  private server?: Server;
  private timers = new Set<NodeJS.Timeout>();

  async start(): Promise<this> {
    const truncated = (
      await sharp({ create: { width: 400, height: 400, channels: 3, background: '#c33' } })
        .jpeg()
        .toBuffer()
    ).subarray(0, 600);
    const routes: Record<string, (res: ServerResponse) => void> = {
      '/bomb.png': (res) => res.end(pngDeclaring(30000, 30000)),
      '/truncated.jpg': (res) => res.end(truncated),
      '/text.jpg': (res) => res.end('this is a text file, named .jpg'),
      '/image.svg': (res) =>
        res.end(
          '<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><rect width="4000" height="4000"/></svg>',
        ),
      '/empty.jpg': (res) => res.end(),
      '/junk-2mb.jpg': (res) => res.end(Buffer.alloc(2 * 1024 * 1024, 'not an image. ')),
      // Starts as a JPEG does (so that only its size stops it), then 100 MB.
      '/huge.jpg': (res) => this.endless(res, JPEG_START),
      '/trickle.jpg': (res) => this.trickle(res),
      '/to-metadata.jpg': (res) => this.redirect(res, 'http://169.254.169.254/latest/meta-data/'),
      '/loop.jpg': (res) => this.redirect(res, `${this.url}/loop.jpg`),
      // For the backend's side (manifest, status, upload): any method.
      '/trickle': (res) => this.trickle(res),
      '/endless': (res) => this.endless(res),
    };
    this.server = createServer((req, res) => {
      const route = new URL(req.url!, 'http://x').pathname;
      this.hits.set(route, (this.hits.get(route) ?? 0) + 1);
      // /big-<n>.jpg: 300 kB that start as a JPEG does.
      if (/^\/big-\d+\.jpg$/.test(route)) return void res.end(Buffer.concat([JPEG_START, Buffer.alloc(300 * 1024)]));
      const handler = routes[route];
      if (handler) handler(res);
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    this.timers.forEach(clearInterval);
    await closeServer(this.server);
  }

  /** 100 MB of zeros, 64 kB at a time, as fast as the client reads. */
  private endless(res: ServerResponse, start?: Buffer): void {
    res.setHeader('content-type', 'image/jpeg');
    const chunk = Buffer.alloc(64 * 1024);
    if (start) res.write(start);
    let sent = 0;
    const write = () => {
      while (sent < 100 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return res.once('drain', write);
      }
      res.end();
    };
    res.on('close', () => {
      this.endlessSent.push(Math.min(sent, 100 * 1024 * 1024));
      sent = Infinity;
    });
    write();
  }

  /** One byte a second, forever. */
  private trickle(res: ServerResponse): void {
    res.setHeader('content-type', 'image/jpeg');
    res.write(Buffer.from([0xff]));
    const timer = setInterval(() => res.write(Buffer.from([0xd8])), 1000);
    this.timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }

  private redirect(res: ServerResponse, location: string): void {
    res.statusCode = 302;
    res.setHeader('location', location);
    res.end();
  }
}

/** The first bytes of a JPEG file (start of image, JFIF marker). */
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1]);
