/**
 * The REST API on node:http: the Hono app of createApp behind @hono/node-server, with the config read's
 * fast path in front (api/routes/targets/config-read.ts). Hono builds a Web Request and a Response, runs
 * a dozen middleware and a router for every call; for the one read that applications poll thousands of
 * times a second, the answer is already in memory, so the fast path writes it straight to the socket
 * with the same headers, limits and metrics, and passes every other request to Hono as it came.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { nameServerSpan, tracingEnabled, traceHttpServer } from '../platform/tracing';
import { createConfigReadFastPath } from './routes/targets/config-read';
import type { App } from './app';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** An http.Server (not yet listening) for `app`, with the fast path over the services createApp built. */
export function createApiServer(app: App, hostname?: string): Server {
  const { deps } = app;
  if (tracingEnabled()) nameSpansByRoute(app.instruments);
  const fast = createConfigReadFastPath(deps, app.security, app.instruments);
  let warned = false;
  const inFront =
    (hono: Listener): Listener =>
    (req, res) => {
      try {
        if (fast?.(req, res)) return;
      } catch (err) {
        // A defect of the fast path must cost speed, never an answer: Hono answers unless bytes left.
        if (!warned) {
          warned = true;
          deps.logger.error(
            { err: String(err), path: req.url },
            'config read fast path failed; Hono answers',
          );
        }
        if (res.headersSent) {
          res.destroy();
          return;
        }
      }
      hono(req, res);
    };
  return createAdaptorServer({
    fetch: app.fetch,
    ...(hostname !== undefined ? { hostname } : {}),
    // traceHttpServer is the listener itself when tracing is off (platform/tracing.ts).
    createServer: ((options: object, hono: Listener) =>
      createServer(options, traceHttpServer(inFront(hono)))) as never,
  }) as Server;
}

/**
 * Every answer, Hono's or the fast path's, is counted under its route by `instruments`, inside the
 * request's span: the span takes the route's name there, without a second route lookup per request.
 */
function nameSpansByRoute(instruments: App['instruments']): void {
  const { observe, route } = instruments;
  instruments.observe = (method, path, status, ms) => {
    nameServerSpan(method, path);
    observe(method, path, status, ms);
  };
  instruments.route = (method, path) => {
    const bound = route(method, path);
    return {
      observe(status, ms) {
        nameServerSpan(method, path);
        bound.observe(status, ms);
      },
    };
  };
}

/** createApiServer, listening on `port` and `host` (port 0: any free port). */
export function listenApi(app: App, port: number, host: string): Promise<Server> {
  const server = createApiServer(app, host);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
