/**
 * A tiny static HTTP server for the browser tests, on 127.0.0.1 and a random
 * port: serves built pages and fixture models from mounted directories, with
 * the right content types (`.wasm` as `application/wasm`), plus a few routes
 * that misbehave on purpose.
 *
 * - `/<mount>/<file>`: a file of a mounted directory;
 * - `/stall/<mount>/<file>`: sends headers and the first KB, then never the rest;
 * - `/no-length/<mount>/<file>`: the file without `Content-Length` (chunked);
 * - `/trickle/<mount>/<file>`: the file with `Content-Length`, in 8 pieces 10 ms apart;
 * - `?isolated` on any URL: adds COOP/COEP so the page is cross-origin isolated (threads).
 *
 * Everything else is 404.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.map': 'application/json',
};

/** A running server. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Paths requested so far, in order (without the query). */
  readonly requests: string[];
  /** Responses of `/stall/` still held open (the client has not gone away). */
  stalled(): number;
  close(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @param mounts - URL prefix (without slashes) to directory, e.g. `{ example: '/tmp/dist' }`.
 */
export async function startStaticServer(mounts: Readonly<Record<string, string>>): Promise<StaticServer> {
  const requests: string[] = [];
  const stalled = new Set<ServerResponse>();

  async function resolveFile(path: string): Promise<string | undefined> {
    const [, mount, ...rest] = path.split('/');
    const root = mount === undefined ? undefined : mounts[mount];
    if (root === undefined) return undefined;
    let file = normalize(join(root, decodeURIComponent(rest.join('/'))));
    if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      await stat(file);
      return file;
    } catch {
      return undefined;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(url.pathname);
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (url.searchParams.has('isolated') || (req.headers.referer ?? '').includes('isolated')) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    let path = url.pathname;
    let mode: 'normal' | 'stall' | 'no-length' | 'trickle' = 'normal';
    if (path.startsWith('/stall/')) {
      mode = 'stall';
      path = path.slice('/stall'.length);
    } else if (path.startsWith('/trickle/')) {
      mode = 'trickle';
      path = path.slice('/trickle'.length);
    } else if (path.startsWith('/no-length/')) {
      mode = 'no-length';
      path = path.slice('/no-length'.length);
    }
    const file = await resolveFile(path);
    if (file === undefined) {
      res.writeHead(404, 'Not Found', { ...headers, 'content-type': 'text/plain' });
      res.end(`404 ${url.pathname}`);
      return;
    }
    const body = await readFile(file);
    headers['content-type'] = TYPES[extname(file)] ?? 'application/octet-stream';
    if (mode === 'no-length') {
      res.writeHead(200, headers);
      res.write(body.subarray(0, Math.min(1024, body.length)));
      setTimeout(() => res.end(body.subarray(Math.min(1024, body.length))), 20);
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    if (mode === 'trickle') {
      const piece = Math.ceil(body.length / 8);
      for (let i = 0; i < 8; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        res.write(body.subarray(i * piece, (i + 1) * piece));
      }
      res.end();
      return;
    }
    if (mode === 'stall') {
      res.write(body.subarray(0, Math.min(1024, body.length - 1)));
      stalled.add(res);
      res.on('close', () => stalled.delete(res));
      return;
    }
    res.end(body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    stalled: () => stalled.size,
    async close() {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
