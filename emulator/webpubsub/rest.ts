/**
 * The REST data plane under `/api/hubs/{hub}`: every operation `@azure/web-pubsub` 1.2.0 calls,
 * with the status codes it accepts. Requests carry `Authorization: Bearer <JWT>` signed with the
 * access key; its audience is the request URL (compared on path and query, since the host is a
 * loopback alias or a reverse proxy). Errors are `{code, message, target?}` with the code also
 * in `x-ms-error-code`; nothing a client sends makes the emulator answer 5xx.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isUtf8 } from "node:buffer";
import { audiences, signJwt, verifyJwt } from "./auth.js";
import { HUB_PATTERN } from "./endpoint.js";
import { FilterError, compileFilter, type FilterPredicate } from "./filter.js";
import type { Hub } from "./hub.js";
import { PERMISSIONS, Permissions, type Permission } from "./permissions.js";
import { OutboundMessage, validGroupName, type DataType } from "./protocol.js";
import type { Service } from "./service.js";

export const API_VERSION = "2024-12-01";
const DEFAULT_CLOSE_REASON = "Closed by REST API.";
const MAX_PAGE_SIZE = 200;

class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target?: string,
  ) {
    super(message);
  }
}

const bad = (message: string, target?: string): RestError =>
  new RestError(400, "BadRequest", message, target);

interface Request {
  method: string;
  /** Decoded path segments after `/api/hubs/{hub}`. */
  rest: string[];
  query: URLSearchParams;
  req: IncomingMessage;
}

/** Handles a request whose path starts with `/api/`. */
export async function handleRest(service: Service, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  try {
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q === -1 ? "" : rawUrl.slice(q + 1));
    const segments = rawPath.split("/").slice(1).map(decodeSegment);
    if (segments[0] !== "api") throw new RestError(404, "NotFound", "Unknown path.");
    if (segments[1] === "health" && segments.length === 2) {
      if (method !== "GET" && method !== "HEAD") throw methodNotAllowed();
      return send(res, method, 200);
    }
    if (segments[1] !== "hubs" || segments.length < 4) throw new RestError(404, "NotFound", "Unknown path.");
    const hubName = segments[2]!;
    if (!HUB_PATTERN.test(hubName))
      throw bad("Hub names start with a letter and contain letters, digits and _`,.[] (at most 128).", "hub");
    authorize(service, req, rawUrl);
    await route(service, hubName, { method, rest: segments.slice(3), query, req }, res);
  } catch (err) {
    if (err instanceof RestError) {
      if (!res.headersSent) fail(res, method, err);
      return;
    }
    service.config.logger.warn("rest-internal-error", {
      method,
      error: err instanceof Error ? err.name : "unknown",
    });
    if (!res.headersSent)
      fail(res, method, new RestError(500, "InternalServerError", "Internal server error."));
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad("The path is not valid percent-encoding.");
  }
}

function methodNotAllowed(): RestError {
  return new RestError(405, "MethodNotAllowed", "The method is not allowed on this path.");
}

function authorize(service: Service, req: IncomingMessage, rawUrl: string): void {
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null)
    throw new RestError(401, "Unauthorized", "A Bearer token signed with the access key is required.");
  const result = verifyJwt(m[1]!, service.config.key, service.config.clockSkewSeconds);
  if (!result.ok) throw new RestError(401, "Unauthorized", result.reason);
  const wanted = normalize(rawUrl);
  const wantedPath = normalize(rawUrl.split("?")[0]!);
  const ok = audiences(result.claims).some((aud) => {
    let u: URL;
    try {
      u = new URL(aud);
    } catch {
      return false;
    }
    const given = normalize(u.pathname + u.search);
    return given === wanted || given === wantedPath;
  });
  if (!ok) throw new RestError(401, "Unauthorized", "The token audience does not match the request URL.");
}

function normalize(pathAndQuery: string): string {
  let s = pathAndQuery;
  try {
    s = decodeURIComponent(s.replace(/\+/g, "%20"));
  } catch {
    // compare as sent
  }
  return s.toLowerCase();
}

async function route(service: Service, hubName: string, r: Request, res: ServerResponse): Promise<void> {
  const [a, b, c, d, ...extra] = r.rest;
  if (extra.length > 0) throw new RestError(404, "NotFound", "Unknown path.");
  const m = r.method;
  const read = (): Hub | undefined => service.findHub(hubName);

  if (b === undefined) {
    switch (a) {
      case ":send":
        if (m !== "POST") throw methodNotAllowed();
        return sendCall(service, r, res, (msg, options) =>
          service.hub(hubName).sendToAll(msg, options.excluded, options.filter),
        );
      case ":addToGroups":
      case ":removeFromGroups": {
        if (m !== "POST") throw methodNotAllowed();
        const { groups, filter } = await readGroupsBody(service, r);
        const hub = read();
        if (hub !== undefined)
          for (const conn of hub.select(filter))
            for (const g of groups) {
              if (a === ":addToGroups") hub.join(conn, g);
              else hub.leave(conn, g);
            }
        return send(res, m, 200);
      }
      case ":closeConnections": {
        if (m !== "POST") throw methodNotAllowed();
        const hub = read();
        if (hub !== undefined) hub.closeConnections(hub.connections.values(), reason(r), excluded(r));
        return send(res, m, 204);
      }
      case ":generateToken":
        if (m !== "POST") throw methodNotAllowed();
        return generateToken(service, hubName, r, res);
    }
    throw new RestError(404, "NotFound", "Unknown path.");
  }

  const id = b;
  if (id === "") throw bad("The name in the path must not be empty.");
  switch (a) {
    case "connections": {
      if (c === undefined) {
        if (m === "DELETE") {
          read()?.connections.get(id)?.close(1000, reason(r));
          return send(res, m, 204);
        }
        if (m === "HEAD") return send(res, m, read()?.connections.has(id) ? 200 : 404);
        throw methodNotAllowed();
      }
      if (d !== undefined) break;
      if (c === ":send") {
        if (m !== "POST") throw methodNotAllowed();
        return sendCall(service, r, res, (msg) => read()?.sendToConnection(id, msg), { noFilter: true });
      }
      if (c === "groups") {
        if (m !== "DELETE") throw methodNotAllowed();
        const hub = read();
        const conn = hub?.connections.get(id);
        if (hub !== undefined && conn !== undefined) hub.leaveAll(conn);
        return send(res, m, 204);
      }
      break;
    }
    case "groups": {
      const group = checkGroup(id);
      if (c === undefined) {
        if (m !== "HEAD") throw methodNotAllowed();
        return send(res, m, read()?.groups.has(group) ? 200 : 404);
      }
      if (c === ":send" && d === undefined) {
        if (m !== "POST") throw methodNotAllowed();
        return sendCall(service, r, res, (msg, options) => read()?.sendToGroup(group, msg, options), {
          group,
        });
      }
      if (c === ":closeConnections" && d === undefined) {
        if (m !== "POST") throw methodNotAllowed();
        const hub = read();
        const members = hub?.groups.get(group);
        if (hub !== undefined && members !== undefined) hub.closeConnections(members, reason(r), excluded(r));
        return send(res, m, 204);
      }
      if (c === "connections") {
        if (d === undefined) {
          if (m !== "GET") throw methodNotAllowed();
          return listConnections(read(), hubName, group, r, res);
        }
        if (d === "") throw bad("The connection id must not be empty.", "connectionId");
        const hub = read();
        const conn = hub?.connections.get(d);
        if (m === "PUT") {
          if (hub === undefined || conn === undefined)
            throw new RestError(404, "NotFound", `Connection '${d}' does not exist.`, "connectionId");
          hub.join(conn, group);
          return send(res, m, 200);
        }
        if (m === "DELETE") {
          if (hub !== undefined && conn !== undefined) hub.leave(conn, group);
          return send(res, m, 204);
        }
        throw methodNotAllowed();
      }
      break;
    }
    case "users": {
      const userId = id;
      if (c === undefined) {
        if (m !== "HEAD") throw methodNotAllowed();
        return send(res, m, read()?.users.has(userId) ? 200 : 404);
      }
      if (c === ":send" && d === undefined) {
        if (m !== "POST") throw methodNotAllowed();
        return sendCall(service, r, res, (msg, options) => read()?.sendToUser(userId, msg, options.filter));
      }
      if (c === ":closeConnections" && d === undefined) {
        if (m !== "POST") throw methodNotAllowed();
        const hub = read();
        const conns = hub?.users.get(userId);
        if (hub !== undefined && conns !== undefined) hub.closeConnections(conns, reason(r), excluded(r));
        return send(res, m, 204);
      }
      if (c === "groups") {
        const hub = read();
        const conns = [...(hub?.users.get(userId) ?? [])];
        if (d === undefined) {
          if (m !== "DELETE") throw methodNotAllowed();
          for (const conn of conns) hub!.leaveAll(conn);
          return send(res, m, 204);
        }
        const group = checkGroup(d);
        if (m === "PUT") {
          if (conns.length === 0)
            throw new RestError(404, "NotFound", `User '${userId}' has no connection.`, "userId");
          for (const conn of conns) hub!.join(conn, group);
          return send(res, m, 200);
        }
        if (m === "DELETE") {
          for (const conn of conns) hub!.leave(conn, group);
          return send(res, m, 204);
        }
        throw methodNotAllowed();
      }
      break;
    }
    case "permissions": {
      if (c !== "connections" || d === undefined) break;
      if (!(PERMISSIONS as readonly string[]).includes(id))
        throw bad(`Unknown permission '${id}'; use joinLeaveGroup or sendToGroup.`, "permission");
      const permission = id as Permission;
      if (d === "") throw bad("The connection id must not be empty.", "connectionId");
      const targetName = r.query.get("targetName") ?? undefined;
      if (targetName !== undefined) checkGroup(targetName, "targetName");
      const conn = read()?.connections.get(d);
      if (m === "HEAD") return send(res, m, conn?.permissions?.has(permission, targetName) ? 200 : 404);
      if (m !== "PUT" && m !== "DELETE") throw methodNotAllowed();
      if (conn === undefined)
        throw new RestError(404, "NotFound", `Connection '${d}' does not exist.`, "connectionId");
      if (m === "PUT") {
        conn.permissions ??= new Permissions();
        conn.permissions.grant(permission, targetName);
        return send(res, m, 200);
      }
      conn.permissions?.revoke(permission, targetName);
      return send(res, m, 204);
    }
  }
  throw new RestError(404, "NotFound", "Unknown path.");
}

interface SendOptions {
  excluded?: ReadonlySet<string>;
  filter?: FilterPredicate;
}

async function sendCall(
  service: Service,
  r: Request,
  res: ServerResponse,
  deliver: (message: OutboundMessage, options: SendOptions) => void,
  flags: { noFilter?: boolean; group?: string } = {},
): Promise<void> {
  checkTtl(r.query);
  const options: SendOptions = {};
  if (!flags.noFilter) {
    const filter = parseFilter(r.query.get("filter"));
    if (filter !== undefined) options.filter = filter;
    const ex = excluded(r);
    if (ex !== undefined) options.excluded = ex;
  }
  const dataType = mediaType(r.req);
  const body = await readBody(r.req, service.config.maxMessageBytes);
  if (dataType === "json") {
    try {
      JSON.parse(body.toString("utf8"));
    } catch {
      throw bad("The body is not valid JSON.", "message");
    }
  } else if (dataType === "text" && !isUtf8(body)) {
    throw bad("The body is not valid UTF-8.", "message");
  }
  deliver(new OutboundMessage(dataType, body, flags.group ?? null), options);
  send(res, r.method, 202);
}

function mediaType(req: IncomingMessage): DataType {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json") return "json";
  if (type === "text/plain") return "text";
  if (type === "application/octet-stream") return "binary";
  throw new RestError(
    415,
    "UnsupportedMediaType",
    "Content-Type must be application/json, text/plain or application/octet-stream.",
  );
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new RestError(413, "PayloadTooLarge", `The message is larger than ${limit} bytes.`, "message"));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume();
        reject(
          new RestError(413, "PayloadTooLarge", `The message is larger than ${limit} bytes.`, "message"),
        );
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks, size)));
    req.on("error", () => reject(new RestError(400, "BadRequest", "The request body could not be read.")));
  });
}

async function readGroupsBody(
  service: Service,
  r: Request,
): Promise<{ groups: string[]; filter: FilterPredicate | undefined }> {
  const type = (r.req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json")
    throw new RestError(415, "UnsupportedMediaType", "Content-Type must be application/json.");
  const body = await readBody(r.req, service.config.maxMessageBytes);
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    throw bad("The body is not valid JSON.");
  }
  if (typeof value !== "object" || value === null) throw bad("The body must be a JSON object.");
  const v = value as { groups?: unknown; filter?: unknown };
  if (!Array.isArray(v.groups) || v.groups.length === 0 || !v.groups.every((g) => typeof g === "string"))
    throw bad("'groups' must be a non-empty array of group names.", "groups");
  const groups = v.groups as string[];
  for (const g of groups) checkGroup(g, "groups");
  if (v.filter !== undefined && v.filter !== null && typeof v.filter !== "string")
    throw bad("'filter' must be a string.", "filter");
  return { groups, filter: parseFilter(v.filter as string | null | undefined) };
}

function parseFilter(text: string | null | undefined): FilterPredicate | undefined {
  try {
    return compileFilter(text);
  } catch (err) {
    if (err instanceof FilterError) throw bad(`Invalid filter: ${err.message}`, "filter");
    throw err;
  }
}

function checkTtl(query: URLSearchParams): void {
  const values = query.getAll("messageTtlSeconds");
  if (values.length === 0) return;
  const v = values[0]!;
  if (values.length > 1 || !/^\d+$/.test(v) || Number(v) > 300)
    throw bad("messageTtlSeconds must be an integer from 0 to 300.", "messageTtlSeconds");
}

function checkGroup(group: string, target = "group"): string {
  if (!validGroupName(group))
    throw bad("Group names are 1 to 1024 characters and not only white space.", target);
  return group;
}

function excluded(r: Request): ReadonlySet<string> | undefined {
  const list = r.query.getAll("excluded").filter((e) => e !== "");
  return list.length === 0 ? undefined : new Set(list);
}

function reason(r: Request): string {
  const given = r.query.get("reason");
  return given === null || given === "" ? DEFAULT_CLOSE_REASON : given;
}

function positiveInt(query: URLSearchParams, name: string): number | undefined {
  const values = query.getAll(name);
  if (values.length === 0) return undefined;
  const v = values[0]!;
  if (values.length > 1 || !/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v)))
    throw bad(`${name} must be a positive integer.`, name);
  return Number(v);
}

function listConnections(
  hub: Hub | undefined,
  hubName: string,
  group: string,
  r: Request,
  res: ServerResponse,
): void {
  const pageSize = positiveInt(r.query, "maxpagesize") ?? MAX_PAGE_SIZE;
  if (pageSize > MAX_PAGE_SIZE) throw bad(`maxpagesize must be at most ${MAX_PAGE_SIZE}.`, "maxpagesize");
  const top = positiveInt(r.query, "top");
  const after = r.query.get("continuationToken") ?? "";
  const members = [...(hub?.groups.get(group) ?? [])]
    .filter((c) => c.id > after)
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const limit = Math.min(pageSize, top ?? Infinity);
  const page = members.slice(0, limit);
  const body: { value: { connectionId: string; userId?: string }[]; nextLink?: string } = {
    value: page.map((c) =>
      c.userId === null ? { connectionId: c.id } : { connectionId: c.id, userId: c.userId },
    ),
  };
  const remaining = top === undefined ? undefined : top - page.length;
  if (members.length > limit && (remaining === undefined || remaining > 0)) {
    const next = new URLSearchParams({
      "api-version": API_VERSION,
      maxpagesize: String(pageSize),
      continuationToken: page[page.length - 1]!.id,
    });
    if (remaining !== undefined) next.set("top", String(remaining));
    body.nextLink = `/api/hubs/${encodeURIComponent(hubName)}/groups/${encodeURIComponent(group)}/connections?${next}`;
  }
  sendJson(res, r.method, 200, body);
}

function generateToken(service: Service, hubName: string, r: Request, res: ServerResponse): void {
  const q = r.query;
  const clientType = q.get("clientType");
  if (clientType !== null && clientType !== "" && clientType.toLowerCase() !== "default")
    throw bad(`clientType '${clientType}' is not supported by the emulator.`, "clientType");
  const minutes = positiveInt(q, "minutesToExpire") ?? 60;
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: `http://${r.req.headers.host ?? "localhost"}/client/hubs/${hubName}`,
    exp: now + minutes * 60,
  };
  const userId = q.get("userId");
  if (userId !== null && userId !== "") claims.sub = userId;
  const roles = q.getAll("role");
  if (roles.length > 0) claims.role = roles;
  const groups = q.getAll("group");
  if (groups.length > 0) claims["webpubsub.group"] = groups;
  sendJson(res, r.method, 200, { token: signJwt(claims, service.config.key) });
}

function send(res: ServerResponse, _method: string, status: number): void {
  res.statusCode = status;
  res.end();
}

function sendJson(res: ServerResponse, method: string, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(method === "HEAD" ? undefined : text);
}

function fail(res: ServerResponse, method: string, err: RestError): void {
  res.setHeader("x-ms-error-code", err.code);
  if (err.status === 401) res.setHeader("WWW-Authenticate", "Bearer");
  const body =
    err.target === undefined
      ? { code: err.code, message: err.message }
      : {
          code: err.code,
          message: err.message,
          target: err.target,
        };
  sendJson(res, method, err.status, body);
}
