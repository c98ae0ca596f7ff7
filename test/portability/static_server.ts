/**
 * A static HTTP server for the browser tests and the WebAssembly peer benchmark: URL paths map to
 * files under folders (streamed, so files over 2 GiB serve too) or to bytes in memory. Plain
 * answers by default, as any static host gives: the page is not cross-origin isolated, so it has
 * no SharedArrayBuffer, and must not need one. `isolated` adds the two headers that make it
 * cross-origin isolated (for threaded WebAssembly).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';

/** What a URL prefix serves: a folder's files, or fixed bytes for one exact path. */
export type Routes = Record<string, { dir: string } | { bytes: Uint8Array }>;

/** How the server answers. */
export interface ServeOptions {
  /** send Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy, so pages get SharedArrayBuffer */
  isolated?: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** A running server and its base URL (`http://127.0.0.1:<port>`). */
export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The bytes, or the file and its size, that `path` names under the routes; undefined: 404. */
async function lookup(
  routes: Routes,
  path: string,
): Promise<{ bytes: Uint8Array } | { file: string; size: number } | undefined> {
  for (const [prefix, route] of Object.entries(routes)) {
    if ('bytes' in route) {
      if (path === prefix) return route;
      continue;
    }
    if (!path.startsWith(prefix)) continue;
    const rel = normalize(path.slice(prefix.length) || 'index.html');
    if (rel.startsWith('..')) return undefined;
    const file = join(route.dir, rel);
    try {
      const info = await stat(file);
      return info.isFile() ? { file, size: info.size } : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Starts a server on a free port of 127.0.0.1. */
export async function serveStatic(routes: Routes, options: ServeOptions = {}): Promise<StaticServer> {
  const isolation = options.isolated
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    : {};
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const body = await lookup(routes, path);
    if (!body) {
      res.writeHead(404).end(`no ${path}`);
      return;
    }
    res.writeHead(200, {
      ...isolation,
      'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
      'Content-Length': 'bytes' in body ? body.bytes.length : body.size,
    });
    if ('bytes' in body) res.end(body.bytes);
    else
      createReadStream(body.file)
        .on('error', () => res.destroy())
        .pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
