/**
 * A static HTTP server for the browser test: URL paths map to files under folders or to bytes in
 * memory. Plain answers, as any static host gives: the page is not cross-origin isolated, so it
 * has no SharedArrayBuffer, and must not need one.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';

/** What a URL prefix serves: a folder's files, or fixed bytes for one exact path. */
export type Routes = Record<string, { dir: string } | { bytes: Uint8Array }>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
};

/** A running server and its base URL (`http://127.0.0.1:<port>`). */
export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The bytes of `path` under the routes, or undefined (404). */
async function lookup(routes: Routes, path: string): Promise<Uint8Array | undefined> {
  for (const [prefix, route] of Object.entries(routes)) {
    if ('bytes' in route) {
      if (path === prefix) return route.bytes;
      continue;
    }
    if (!path.startsWith(prefix)) continue;
    const rel = normalize(path.slice(prefix.length) || 'index.html');
    if (rel.startsWith('..')) return undefined;
    try {
      return await readFile(join(route.dir, rel));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Starts a server on a free port of 127.0.0.1. */
export async function serveStatic(routes: Routes): Promise<StaticServer> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const body = await lookup(routes, path);
    if (!body) {
      res.writeHead(404).end(`no ${path}`);
      return;
    }
    res
      .writeHead(200, {
        'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
        'Content-Length': body.length,
      })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
