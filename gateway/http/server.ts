import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { HeraldError } from "../../core/errors.js";
import type { Logger } from "../log.js";
import { runHandler, writeResponse } from "./node.js";
import { errorResponse } from "./errors.js";
import type { Handler } from "./types.js";

/** A route: a handler for JSON request/response, or a raw handler that owns the response (SSE, metrics). */
export type Route =
  | { method: string; path: string; handler: Handler }
  | {
      method: string;
      path: string;
      raw: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
    };

export interface HttpServerOptions {
  host: string;
  port: number;
  routes: readonly Route[];
  log: Logger;
}

export interface RunningHttpServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Starts the gateway's HTTP server; a taken port fails with HERALD_PORT_IN_USE naming it. */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const byPath = new Map<string, Route[]>();
  for (const route of options.routes) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  const log = options.log;
  let base = "http://localhost";

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const routes = byPath.get(path);
    const route = routes?.find(
      (r) => r.method === req.method || (r.method === "GET" && req.method === "HEAD"),
    );
    if (!route) {
      const err = routes
        ? new HeraldError("HERALD_METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${path}`)
        : new HeraldError("HERALD_NOT_FOUND", `no route ${path}`);
      req.resume();
      writeResponse(res, errorResponse(err));
      return;
    }
    const started = performance.now();
    const done = (status: number): void =>
      log.debug({ method: req.method, path, status, ms: Math.round(performance.now() - started) }, "request");
    if ("raw" in route) {
      Promise.resolve(route.raw(req, res)).catch((err: unknown) => {
        log.error({ err, path }, "route failed");
        if (!res.headersSent) writeResponse(res, errorResponse(err));
        else res.destroy();
      });
      return;
    }
    runHandler(route.handler, req, res, base).then(
      (response) => {
        if (response.status >= 500) log.warn({ path, status: response.status }, "request failed");
        done(response.status);
      },
      (err: unknown) => log.error({ err, path }, "request failed"),
    );
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new HeraldError(
              "HERALD_PORT_IN_USE",
              `port ${options.port} is in use; choose another with HERALD_PORT or --port`,
              {
                target: "HERALD_PORT",
              },
            )
          : err,
      );
    });
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "localhost" : options.host;
  base = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    url: base,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
