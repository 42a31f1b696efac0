/**
 * The client endpoint `/client/hubs/{hub}` (also `/client/?hub={hub}`): checks the access
 * token (signature, audience, expiry) before the upgrade (401 otherwise), picks the
 * subprotocol, then either starts a new connection or recovers a reliable one
 * (`awps_connection_id` + `awps_reconnection_token`). A refused recovery is an upgrade followed
 * by close 1008, the only answer that stops the SDK's recovery loop.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { audiences, randomId, sameSecret, stringList, verifyJwt, type JwtClaims } from "./auth.js";
import { Connection } from "./connection.js";
import { Permissions } from "./permissions.js";
import { RELIABLE, connectedFrame, selectSubprotocol, validGroupName, type Kind } from "./protocol.js";
import type { Service } from "./service.js";
import {
  CLOSE_POLICY_VIOLATION,
  checkUpgrade,
  encodeClose,
  rejectUpgrade,
  writeHandshake,
} from "./websocket.js";

/** Hub names as the service accepts them. */
export const HUB_PATTERN = /^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$/;

export function isClientPath(pathname: string): boolean {
  return pathname === "/client" || pathname.startsWith("/client/");
}

/** Handles an HTTP upgrade on a client path. */
export function handleClientUpgrade(
  service: Service,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  socket.on("error", ignore);
  // Split by hand: a URL object per handshake is garbage that makes V8's young generation grow.
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const url = {
    pathname: q === -1 ? raw : raw.slice(0, q),
    searchParams: new URLSearchParams(q === -1 ? "" : raw.slice(q + 1)),
  };
  const reject = (status: number, code: string, message: string, headers?: Record<string, string>): void => {
    service.config.logger.info("client-rejected", { status, code });
    rejectUpgrade(socket, status, { code, message }, headers);
    service.linger(socket);
  };

  let hubName: string | null = null;
  const segments = url.pathname.split("/");
  if (segments.length === 4 && segments[2] === "hubs") hubName = safeDecode(segments[3]!);
  else if ((url.pathname === "/client" || url.pathname === "/client/") && url.searchParams.has("hub"))
    hubName = url.searchParams.get("hub");
  if (hubName === null) return reject(404, "NotFound", "Unknown client endpoint; use /client/hubs/{hub}.");
  if (!HUB_PATTERN.test(hubName)) return reject(400, "InvalidHubName", "Invalid hub name.");

  const upgrade = checkUpgrade(req);
  if (!upgrade.ok) return reject(upgrade.status, "BadRequest", upgrade.message, upgrade.headers);
  const chosen = selectSubprotocol(upgrade.protocols);
  if (chosen === undefined)
    return reject(
      400,
      "UnsupportedSubprotocol",
      "Supported subprotocols: json.webpubsub.azure.v1, json.reliable.webpubsub.azure.v1 (or none).",
    );

  const token = url.searchParams.get("access_token") ?? bearer(req.headers.authorization);
  if (token === null || token === "") return reject(401, "Unauthorized", "An access token is required.");
  const recoveryId = url.searchParams.get("awps_connection_id");
  const recoveryToken = url.searchParams.get("awps_reconnection_token");
  const recovering = recoveryId !== null && recoveryToken !== null;
  // A token is checked when a connection starts; a recovering connection may outlive its expiry.
  const verified = verifyJwt(
    token,
    service.config.key,
    recovering ? Infinity : service.config.clockSkewSeconds,
  );
  if (!verified.ok) return reject(401, "Unauthorized", verified.reason);
  const expectedPath = `/client/hubs/${hubName}`.toLowerCase();
  if (!audiences(verified.claims).some((aud) => audiencePath(aud) === expectedPath))
    return reject(401, "Unauthorized", "The token audience does not match this hub's client endpoint.");

  const hub = service.hub(hubName);
  if (recovering) {
    writeHandshake(socket, upgrade.key, chosen.name);
    const refuse = (reason: string): void => {
      service.config.logger.info("recovery-refused", { hub: hub.name, connectionId: recoveryId, reason });
      socket.resume();
      socket.end(encodeClose(CLOSE_POLICY_VIOLATION, reason));
      service.linger(socket);
    };
    const c = hub.connections.get(recoveryId);
    if (c === undefined) return refuse("The connection does not exist or can no longer be recovered.");
    if (c.reconnectionToken === null || !sameSecret(recoveryToken, c.reconnectionToken))
      return refuse("Invalid reconnection token.");
    if (!c.isReliable || chosen.kind !== RELIABLE)
      return refuse("Only reliable connections can be recovered.");
    c.attach(socket, head);
    c.replay();
    service.stats.recoveries++;
    service.config.logger.info("recovered", { hub: hub.name, connectionId: c.id, unacked: c.unackedCount });
    return;
  }

  const connectionId = randomId();
  const claims = verified.claims;
  const start = (userId: string | null, roles: string[], groups: string[]): void => {
    if (socket.destroyed) return;
    const kind: Kind = chosen.kind;
    const publishMode = url.searchParams.get("webpubsub_mode");
    const publishGroup =
      kind === 0 && publishMode?.toLowerCase() === "sendtogroup"
        ? (url.searchParams.get("group") ?? undefined)
        : undefined;
    const c = new Connection(hub, {
      id: connectionId,
      userId,
      kind,
      subprotocol: chosen.name,
      permissions: Permissions.fromRoles(roles),
      publishGroup,
    });
    hub.add(c);
    for (const g of groups) if (validGroupName(g)) hub.join(c, g);
    // The connected system message goes out with the 101 response, so that it is the first frame.
    let connected: Buffer | undefined;
    if (kind !== 0) {
      connected = connectedFrame(connectionId, userId, c.reconnectionToken ?? undefined);
    }
    writeHandshake(socket, upgrade.key, chosen.name, connected);
    c.attach(socket, head);
    service.config.logger.info("connected", {
      hub: hub.name,
      connectionId,
      userId,
      protocol: chosen.name ?? "",
    });
    service.upstream.connected(hub.name, c);
  };

  const userId = typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : null;
  const roles = stringList(claims.role);
  const groups = stringList(claims["webpubsub.group"]);
  if (!service.upstream.hasConnectHandler(hub.name)) return start(userId, roles, groups);

  // The blocking `connect` event may refuse the client or change its identity.
  void service.upstream
    .connect(hub.name, {
      connectionId,
      userId,
      claims: claimsForUpstream(claims),
      query: multiMap(url.searchParams.entries(), (k) => k !== "access_token"),
      headers: multiMap(
        Object.entries(req.headers).flatMap(([k, v]) =>
          Array.isArray(v) ? v.map((x) => [k, x]) : [[k, String(v)]],
        ) as [string, string][],
        (k) => k.toLowerCase() !== "authorization",
      ),
      subprotocols: upgrade.protocols,
    })
    .then((result) => {
      if (!result.ok) {
        const code =
          result.status === 401
            ? "Unauthorized"
            : result.status === 403
              ? "Forbidden"
              : "InternalServerError";
        return reject(result.status, code, result.message);
      }
      start(
        result.userId ?? userId,
        result.roles ? [...roles, ...result.roles] : roles,
        result.groups ? [...groups, ...result.groups] : groups,
      );
    });
}

function ignore(): void {}

function bearer(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1]!.trim() : null;
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The lowercased, decoded path of an audience URL (hosts are loopback aliases; not compared). */
export function audiencePath(aud: string): string | null {
  const scheme = aud.indexOf("://");
  if (scheme <= 0) return null;
  const slash = aud.indexOf("/", scheme + 3);
  if (slash === -1) return "";
  let end = aud.length;
  for (const ch of ["?", "#"]) {
    const at = aud.indexOf(ch, slash);
    if (at !== -1 && at < end) end = at;
  }
  const path = aud.slice(slash, end);
  return (safeDecode(path) ?? path).replace(/\/+$/, "").toLowerCase();
}

function claimsForUpstream(claims: JwtClaims): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) out[k] = Array.isArray(v) ? v : [v];
  return out;
}

function multiMap(
  entries: Iterable<[string, string]>,
  keep: (key: string) => boolean,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of entries) if (keep(k)) (out[k] ??= []).push(v);
  return out;
}
