/**
 * Serves a fetch handler on the runtime's own HTTP server: Deno.serve on Deno, Bun.serve on Bun,
 * and on Node the server of @hono/node-server (node:http under web-standard Requests).
 */

/** A request handler in web-standard terms. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A server that listens. */
export interface Listening {
  /** the port it took (useful with port 0) */
  port: number;
  /** which runtime's server */
  runtime: 'deno' | 'bun' | 'node';
  /** stops accepting connections (those open go on until their responses end) */
  stop(): Promise<void>;
}

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: FetchHandler,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}
interface BunServe {
  serve(options: { hostname: string; port: number; fetch: FetchHandler; idleTimeout: number }): {
    port: number;
    stop(closeActive?: boolean): Promise<void> | void;
  };
}

/** Listens on host:port with `fetch`, resolving once the port is bound. */
export async function listen(fetch: FetchHandler, host: string, port: number): Promise<Listening> {
  const g = globalThis as { Deno?: DenoServe; Bun?: BunServe };
  if (g.Deno) {
    const server = g.Deno.serve({ hostname: host, port, onListen: () => {} }, fetch);
    return { port: server.addr.port, runtime: 'deno', stop: () => server.shutdown() };
  }
  if (g.Bun) {
    // idleTimeout 0: a streamed answer may go quiet for longer than Bun's 10 s default while it waits in the queue.
    const server = g.Bun.serve({ hostname: host, port, fetch, idleTimeout: 0 });
    return {
      port: server.port,
      runtime: 'bun',
      stop: async () => {
        await server.stop(false);
      },
    };
  }
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname: host, port }, (info) =>
      resolve({
        port: info.port,
        runtime: 'node',
        stop: () =>
          new Promise<void>((done) => {
            server.close(() => done());
          }),
      }),
    );
    server.once('error', reject);
  });
}
