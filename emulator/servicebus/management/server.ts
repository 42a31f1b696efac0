/**
 * The HTTP side of the management endpoint: loopback listeners, bounded request bodies, and
 * handing each request to the handler. Never throws from a request callback.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HeraldError } from "../../../core/errors.js";
import type { EntityManager } from "../model.js";
import {
  errorResponse,
  handleManagementRequest,
  type HandlerContext,
  type ManagementResponse,
} from "./handler.js";

export interface ManagementServerOptions {
  /**
   * Loopback host to listen on: `localhost` (both 127.0.0.1 and ::1, so clients work whichever
   * `localhost` resolves to), `127.0.0.1` or `::1`.
   * @default "localhost"
   */
  host?: string | undefined;
  /** 0 picks a free port. @default 5300 */
  port?: number | undefined;
  /** Largest request body accepted; larger ones get 413. @default 1 MiB */
  maxBodyBytes?: number | undefined;
  /**
   * Called for unexpected errors, which the client sees as a bare 500. The default writes one
   * line (method, path, tracking id, error message; never a body) to stderr.
   */
  onInternalError?: HandlerContext["onInternalError"] | undefined;
}

export interface ManagementServer {
  /** `http://localhost:<port>` (or the literal address when one was given). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

const DEFAULT_PORT = 5300;
const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * Starts the Service Bus ATOM management endpoint that `ServiceBusAdministrationClient` talks
 * to, over plain HTTP on loopback. Point the client at it with `emulatorAdministrationOptions`.
 *
 * @example
 * const server = await startManagementServer(manager, { port: 0 });
 * const admin = new ServiceBusAdministrationClient(connectionString, emulatorAdministrationOptions(server.url));
 */
export async function startManagementServer(
  manager: EntityManager,
  options: ManagementServerOptions = {},
): Promise<ManagementServer> {
  const host = options.host ?? "localhost";
  const port = options.port ?? DEFAULT_PORT;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const addresses = loopbackAddresses(host);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new HeraldError("HERALD_INVALID_CONFIG", `port must be 0-65535, got ${port}`, { target: "port" });
  if (!Number.isInteger(maxBody) || maxBody < 1)
    throw new HeraldError("HERALD_INVALID_CONFIG", `maxBodyBytes must be a positive integer`, {
      target: "maxBodyBytes",
    });

  const ctx: HandlerContext = {
    manager,
    startedAt: new Date(),
    onInternalError:
      options.onInternalError ??
      ((err, req) => {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(
          `herald servicebus management: internal error on ${req.method} ${req.path} (tracking id ${req.trackingId}): ${message}\n`,
        );
      }),
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void =>
    serve(ctx, maxBody, req, res);

  // With port 0 the first listener picks the port and the others must get the same one; if
  // that port is taken on another address, start over with a new one.
  for (let attempt = 0; ; attempt++) {
    const servers: http.Server[] = [];
    let boundPort = port;
    try {
      for (const address of addresses) {
        const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, onRequest);
        server.keepAliveTimeout = 5_000;
        const bound = await listen(server, address, boundPort, address !== addresses[0]);
        if (bound === undefined) continue; // ::1 missing on a host without IPv6
        servers.push(server);
        boundPort = bound;
      }
    } catch (err) {
      await Promise.all(servers.map(closeServer));
      if (isCode(err, "EADDRINUSE") && port === 0 && attempt < 5) continue;
      if (isCode(err, "EADDRINUSE"))
        throw new HeraldError("HERALD_PORT_IN_USE", `port ${port} on ${host} is already in use`, {
          target: "port",
          cause: err,
        });
      throw err;
    }
    const urlHost =
      host === "localhost" ? "localhost" : host.includes(":") ? `[${host.replace(/^\[|\]$/g, "")}]` : host;
    let closed: Promise<void> | undefined;
    return {
      url: `http://${urlHost}:${boundPort}`,
      port: boundPort,
      close: () => (closed ??= Promise.all(servers.map(closeServer)).then(() => undefined)),
    };
  }
}

function loopbackAddresses(host: string): string[] {
  switch (host.toLowerCase()) {
    case "localhost":
      return ["127.0.0.1", "::1"];
    case "127.0.0.1":
      return ["127.0.0.1"];
    case "::1":
    case "[::1]":
      return ["::1"];
    default:
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        `the management endpoint listens on loopback only (localhost, 127.0.0.1 or ::1), not "${host}"`,
        { target: "host" },
      );
  }
}

/** Resolves to the bound port, or undefined when an optional address is unavailable here. */
function listen(
  server: http.Server,
  address: string,
  port: number,
  optional: boolean,
): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      if (optional && (isCode(err, "EADDRNOTAVAIL") || isCode(err, "EAFNOSUPPORT"))) resolve(undefined);
      else reject(err);
    };
    server.once("error", onError);
    server.listen({ host: address, port, ipv6Only: address === "::1" }, () => {
      server.off("error", onError);
      // Errors after listening (e.g. EMFILE on accept) must not crash the process.
      server.on("error", () => undefined);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && "code" in err && err.code === code;
}

function serve(
  ctx: HandlerContext,
  maxBody: number,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  let finished = false;
  const reply = (response: ManagementResponse, close = false): void => {
    if (finished) return;
    finished = true;
    const headers: Record<string, string | number> = {
      ...response.headers,
      "content-length": Buffer.byteLength(response.body),
    };
    // The rest of an oversized body is never read, so the connection cannot be reused.
    if (close) headers.connection = "close";
    res.writeHead(response.status, headers);
    res.end(response.body);
    if (close) res.once("finish", () => req.socket.destroySoon());
  };
  res.on("error", () => undefined);
  req.on("error", () => {
    finished = true;
  });

  const tooLarge = (): void =>
    reply(errorResponse(413, `The request body is larger than ${maxBody} bytes.`), true);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBody) return tooLarge();

  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > maxBody) {
      req.pause();
      tooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (finished) return;
    let response: ManagementResponse;
    try {
      response = handleManagementRequest(ctx, {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
    } catch (err) {
      // The handler turns errors into responses itself; this is the last line of defence.
      ctx.onInternalError(err, {
        method: req.method ?? "",
        path: (req.url ?? "").split("?")[0] ?? "",
        trackingId: "-",
      });
      response = errorResponse(500, "The emulator failed to process the request.");
    }
    reply(response);
  });
}
