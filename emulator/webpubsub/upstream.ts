/**
 * The optional event handler ("upstream"): system and user events POSTed as CloudEvents in
 * HTTP binary mode, as Azure Web PubSub sends them (headers `ce-*`, body = event data).
 * `connect` is blocking (its answer can refuse the client or set userId, roles and groups);
 * `connected` and `disconnected` are fire-and-forget; user events wait for the answer, whose
 * body (if any) goes back to the client as a server message.
 */
import { createHmac } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Connection } from "./connection.js";
import type { DataType } from "./protocol.js";
import type { ServiceConfig } from "./service.js";

export type SystemEvent = "connect" | "connected" | "disconnected";

export interface EventHandlerSettings {
  /** Handler URL; `{hub}` and `{event}` are replaced by the hub and event names. */
  urlTemplate: string;
  /** User events to forward: "*" for all, or a comma-separated list of names. @default "*" */
  userEventPattern?: string | undefined;
  /** System events to forward. @default ["connected", "disconnected"] */
  systemEvents?: readonly SystemEvent[] | undefined;
}

export type UserEventResult =
  { ok: true; response?: { dataType: DataType; data: Buffer } } | { ok: false; message: string };

export type ConnectResult =
  | { ok: true; userId?: string; roles?: string[]; groups?: string[]; subprotocol?: string }
  | { ok: false; status: number; message: string };

export interface ConnectRequest {
  connectionId: string;
  userId: string | null;
  claims: Record<string, unknown>;
  query: Record<string, string[]>;
  headers: Record<string, string[]>;
  subprotocols: string[];
}

const TIMEOUT_MS = 10_000;

interface UpstreamResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

export class Upstream {
  private nextId = 1;
  // Own agents, so that shutting the emulator down leaves no keep-alive socket behind.
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });

  constructor(private readonly config: ServiceConfig) {}

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private settings(hub: string): EventHandlerSettings | undefined {
    return this.config.eventHandlers.get(hub) ?? this.config.eventHandlers.get("*");
  }

  private wantsSystem(hub: string, event: SystemEvent): EventHandlerSettings | undefined {
    const s = this.settings(hub);
    if (s === undefined) return undefined;
    return (s.systemEvents ?? ["connected", "disconnected"]).includes(event) ? s : undefined;
  }

  /** Whether a user event would be forwarded (else the client gets an error ack). */
  handles(hub: string, event: string): boolean {
    const s = this.settings(hub);
    if (s === undefined) return false;
    const pattern = (s.userEventPattern ?? "*").trim();
    if (pattern === "*") return true;
    return pattern
      .split(",")
      .map((p) => p.trim())
      .includes(event);
  }

  hasConnectHandler(hub: string): boolean {
    return this.wantsSystem(hub, "connect") !== undefined;
  }

  async connect(hub: string, request: ConnectRequest): Promise<ConnectResult> {
    const s = this.wantsSystem(hub, "connect");
    if (s === undefined) return { ok: true };
    const body = JSON.stringify({
      claims: request.claims,
      query: request.query,
      headers: request.headers,
      subprotocols: request.subprotocols,
      clientCertificates: [],
    });
    let res: UpstreamResponse;
    try {
      res = await this.post(
        s,
        hub,
        "connect",
        "azure.webpubsub.sys.connect",
        request.connectionId,
        request.userId,
        {
          contentType: "application/json; charset=utf-8",
          body,
        },
      );
    } catch {
      return { ok: false, status: 500, message: "The connect event handler could not be reached." };
    }
    if (res.status === 401 || res.status === 403)
      return { ok: false, status: res.status, message: "The connect event handler refused the client." };
    if (res.status < 200 || res.status >= 300)
      return { ok: false, status: 500, message: `The connect event handler answered ${res.status}.` };
    const text = res.body.toString("utf8");
    if (text.trim() === "") return { ok: true };
    try {
      const v = JSON.parse(text) as Record<string, unknown>;
      const list = (x: unknown): string[] | undefined =>
        Array.isArray(x) ? x.filter((e): e is string => typeof e === "string") : undefined;
      const out: ConnectResult = { ok: true };
      if (typeof v.userId === "string") out.userId = v.userId;
      const roles = list(v.roles);
      if (roles) out.roles = roles;
      const groups = list(v.groups);
      if (groups) out.groups = groups;
      if (typeof v.subprotocol === "string") out.subprotocol = v.subprotocol;
      return out;
    } catch {
      return { ok: false, status: 500, message: "The connect event handler answered invalid JSON." };
    }
  }

  connected(hub: string, c: Connection): void {
    const s = this.wantsSystem(hub, "connected");
    if (s === undefined) return;
    this.fireAndForget(s, hub, c, "connected", "{}");
  }

  disconnected(hub: string, c: Connection, reason: string): void {
    const s = this.wantsSystem(hub, "disconnected");
    if (s === undefined) return;
    this.fireAndForget(s, hub, c, "disconnected", JSON.stringify({ reason }));
  }

  async userEvent(
    hub: string,
    c: Connection,
    event: string,
    dataType: DataType,
    data: Buffer,
  ): Promise<UserEventResult> {
    const s = this.settings(hub);
    if (s === undefined) return { ok: false, message: `No event handler accepts the event '${event}'.` };
    let res: UpstreamResponse;
    try {
      res = await this.post(s, hub, event, `azure.webpubsub.user.${event}`, c.id, c.userId, {
        contentType: CONTENT_TYPES[dataType],
        body: data,
        subprotocol: c.subprotocol,
      });
    } catch {
      this.config.logger.warn("upstream-unreachable", { hub, event, connectionId: c.id });
      return { ok: false, message: "The event handler could not be reached." };
    }
    if (res.status < 200 || res.status >= 300) {
      this.config.logger.warn("upstream-error", { hub, event, connectionId: c.id, status: res.status });
      return { ok: false, message: `The event handler answered ${res.status}.` };
    }
    const body = res.body;
    if (res.status === 204 || body.length === 0) return { ok: true };
    const type = res.contentType.toLowerCase();
    const responseType: DataType = type.startsWith("application/json")
      ? "json"
      : type.startsWith("text/")
        ? "text"
        : "binary";
    if (responseType === "json") {
      try {
        JSON.parse(body.toString("utf8"));
      } catch {
        return { ok: false, message: "The event handler answered invalid JSON." };
      }
    }
    return { ok: true, response: { dataType: responseType, data: body } };
  }

  private fireAndForget(
    s: EventHandlerSettings,
    hub: string,
    c: Connection,
    event: string,
    body: string,
  ): void {
    this.post(s, hub, event, `azure.webpubsub.sys.${event}`, c.id, c.userId, {
      contentType: "application/json; charset=utf-8",
      body,
      subprotocol: c.subprotocol,
    }).then(
      (res) => {
        if (res.status >= 300)
          this.config.logger.warn("upstream-error", { hub, event, connectionId: c.id, status: res.status });
      },
      () => this.config.logger.warn("upstream-unreachable", { hub, event, connectionId: c.id }),
    );
  }

  private post(
    s: EventHandlerSettings,
    hub: string,
    event: string,
    type: string,
    connectionId: string,
    userId: string | null,
    payload: { contentType: string; body: string | Buffer; subprotocol?: string | undefined },
  ): Promise<UpstreamResponse> {
    const url = s.urlTemplate
      .replaceAll("{hub}", encodeURIComponent(hub))
      .replaceAll("{event}", encodeURIComponent(event));
    const headers: Record<string, string> = {
      "content-type": payload.contentType,
      "ce-specversion": "1.0",
      "ce-type": type,
      "ce-source": `/hubs/${hub}/client/${connectionId}`,
      "ce-id": String(this.nextId++),
      "ce-time": new Date().toISOString(),
      "ce-awpsversion": "1.0",
      "ce-hub": hub,
      "ce-eventname": event,
      "ce-connectionid": connectionId,
      "ce-signature": `sha256=${createHmac("sha256", this.config.key).update(connectionId).digest("hex")}`,
      "webhook-request-origin": "localhost",
    };
    if (userId !== null) headers["ce-userid"] = userId;
    if (payload.subprotocol !== undefined) headers["ce-subprotocol"] = payload.subprotocol;
    const target = new URL(url);
    const secure = target.protocol === "https:";
    const body = typeof payload.body === "string" ? Buffer.from(payload.body) : payload.body;
    headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(
        target,
        { method: "POST", headers, agent: secure ? this.httpsAgent : this.httpAgent, timeout: TIMEOUT_MS },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            // An answer goes back to one client as a message: keep it within the message limit.
            if (size > this.config.maxMessageBytes) res.destroy(new Error("answer too large"));
            else chunks.push(chunk);
          });
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 500,
              contentType: String(res.headers["content-type"] ?? ""),
              body: Buffer.concat(chunks),
            }),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end(body);
    });
  }
}

const CONTENT_TYPES: Record<DataType, string> = {
  json: "application/json; charset=utf-8",
  text: "text/plain; charset=utf-8",
  binary: "application/octet-stream",
};
