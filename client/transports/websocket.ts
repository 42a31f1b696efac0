/**
 * WebSocket through Azure Web PubSub with the reliable JSON subprotocol: the gateway pushes each frame
 * with sendToUser / group sendToAll / sendToAll, the service numbers data messages per connection
 * (`sequenceId`) and keeps the unacknowledged ones. We acknowledge cumulatively, drop repeats by
 * sequence id, ping so a dead link shows, and after a drop reconnect to the same connection with its
 * reconnection token for up to 30 s; the service then replays what we missed. A refusal (close 1008)
 * or a failed recovery ends the connection: the client opens a new one and fills the gap from the
 * streams endpoint by cursor.
 */
import { HeraldError } from "../../core/errors.js";
import type { NegotiateResponse } from "../../core/live.js";
import { isFrame } from "../frames.js";
import type { WebSocketLike } from "../types.js";
import { withQuery, type Transport, type TransportContext } from "./transport.js";

export const RELIABLE_JSON_PROTOCOL = "json.reliable.webpubsub.azure.v1";
/** Web PubSub keeps a dropped reliable connection this long. */
const RECOVERY_WINDOW_MS = 30_000;
const RECOVERY_INTERVAL_MS = 1_000;
/** Acknowledgements are batched: one per this interval at most. */
const ACK_DELAY_MS = 500;
/** Close code for a connection we drop because it went silent. */
const SILENT_CLOSE = 4000;

interface ServiceMessage {
  type?: unknown;
  event?: unknown;
  connectionId?: unknown;
  reconnectionToken?: unknown;
  message?: unknown;
  dataType?: unknown;
  data?: unknown;
  sequenceId?: unknown;
}

export class WebSocketTransport implements Transport {
  readonly name = "websocket";
  #socket: WebSocketLike | undefined;
  #done = false;
  #connectionId: string | undefined;
  #reconnectionToken: string | undefined;
  #lastSequence = 0;
  #ackedSequence = 0;
  #ackTimer: unknown;
  #pingTimer: unknown;
  #lastHeard = 0;
  #recoveringSince: number | undefined;
  #recoveryTimer: unknown;
  #disconnectReason: string | undefined;

  constructor(private readonly ctx: TransportContext) {}

  open(): void {
    this.#connect(this.ctx.url);
  }

  refresh(_negotiated: NegotiateResponse): void {
    // An open connection (and its recovery) keeps its URL; the next new connection negotiates again.
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopTimers();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      this.#detach(socket);
      // 1000 ends the reliable session at once instead of leaving it to wait for a recovery.
      try {
        socket.close(1000, "closed by client");
      } catch {
        // already closed
      }
    }
  }

  #connect(url: string): void {
    const { ctx } = this;
    if (!ctx.WebSocket) {
      this.#end(new HeraldError("HERALD_CONNECT_FAILED", "websocket: no WebSocket in this environment"));
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = new ctx.WebSocket(url, RELIABLE_JSON_PROTOCOL);
    } catch (err) {
      this.#end(new HeraldError("HERALD_CONNECT_FAILED", `websocket: ${String(err)}`));
      return;
    }
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.#lastHeard = ctx.clock.now();
      this.#startPing();
      if (this.#recoveringSince !== undefined) {
        // The service takes the connection back and replays what was not acknowledged.
        this.#recoveringSince = undefined;
        ctx.events.recovered();
      }
    };
    socket.onmessage = (e: { data: unknown }) => {
      if (this.#socket !== socket) return;
      this.#lastHeard = ctx.clock.now();
      if (typeof e.data === "string") this.#message(e.data);
    };
    socket.onerror = () => {
      // A close event follows; it decides.
    };
    socket.onclose = (e: { code: number; reason: string }) => {
      if (this.#socket !== socket || this.#done) return;
      this.#socket = undefined;
      this.#stopTimers();
      this.#closed(e.code, e.reason, opened);
    };
  }

  #message(text: string): void {
    let message: ServiceMessage;
    try {
      message = JSON.parse(text) as ServiceMessage;
    } catch {
      return;
    }
    const { ctx } = this;
    if (message.type === "system") {
      if (message.event === "connected") {
        const fresh = message.connectionId !== this.#connectionId;
        if (typeof message.connectionId === "string") this.#connectionId = message.connectionId;
        if (typeof message.reconnectionToken === "string")
          this.#reconnectionToken = message.reconnectionToken;
        if (fresh) {
          this.#lastSequence = 0;
          this.#ackedSequence = 0;
          ctx.events.ready();
          ctx.events.catchUp();
        }
      } else if (message.event === "disconnected" && typeof message.message === "string") {
        this.#disconnectReason = message.message.slice(0, 200);
      }
      return;
    }
    if (message.type !== "message") return;
    if (typeof message.sequenceId === "number") {
      if (message.sequenceId <= this.#lastSequence) return;
      this.#lastSequence = message.sequenceId;
      this.#scheduleAck();
    }
    let data = message.data;
    if (message.dataType === "text" && typeof data === "string") {
      try {
        data = JSON.parse(data) as unknown;
      } catch {
        return;
      }
    }
    if (isFrame(data)) ctx.events.frames([data], false);
  }

  #scheduleAck(): void {
    if (this.#ackTimer !== undefined) return;
    this.#ackTimer = this.ctx.clock.setTimeout(() => {
      this.#ackTimer = undefined;
      this.#sendAck();
    }, ACK_DELAY_MS);
  }

  #sendAck(): void {
    if (this.#lastSequence <= this.#ackedSequence) return;
    if (this.#send({ type: "sequenceAck", sequenceId: this.#lastSequence })) {
      this.#ackedSequence = this.#lastSequence;
    }
  }

  #send(message: unknown): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) return false;
    try {
      socket.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  #startPing(): void {
    const { ctx } = this;
    const interval = ctx.pingIntervalMs;
    const tick = (): void => {
      this.#pingTimer = ctx.clock.setTimeout(() => {
        if (ctx.clock.now() - this.#lastHeard > interval * 2.5) {
          // Nothing heard, not even a pong: the link is dead even if the socket does not know yet.
          const socket = this.#socket;
          this.#socket = undefined;
          this.#stopTimers();
          if (socket) {
            this.#detach(socket);
            try {
              socket.close(SILENT_CLOSE, "no answer to pings");
            } catch {
              // already closed
            }
          }
          this.#closed(SILENT_CLOSE, "no answer to pings", true);
          return;
        }
        this.#send({ type: "ping" });
        tick();
      }, interval);
    };
    tick();
  }

  #closed(code: number, reason: string, opened: boolean): void {
    const { ctx } = this;
    const canRecover =
      code !== 1008 && this.#connectionId !== undefined && this.#reconnectionToken !== undefined;
    const now = ctx.clock.now();
    if (
      canRecover &&
      (this.#recoveringSince === undefined || now - this.#recoveringSince < RECOVERY_WINDOW_MS)
    ) {
      if (this.#recoveringSince === undefined) {
        this.#recoveringSince = now;
        ctx.events.recovering();
      }
      this.#recoveryTimer = ctx.clock.setTimeout(
        () => {
          this.#recoveryTimer = undefined;
          if (this.#done) return;
          this.#connect(
            withQuery(ctx.url, {
              awps_connection_id: this.#connectionId,
              awps_reconnection_token: this.#reconnectionToken,
            }),
          );
        },
        this.#recoveringSince === now ? 0 : RECOVERY_INTERVAL_MS,
      );
      return;
    }
    const why = this.#disconnectReason ?? reason;
    const detail = opened ? `closed (${code}${why ? ` ${why}` : ""})` : "could not connect";
    this.#end(new HeraldError("HERALD_CONNECT_FAILED", `websocket: ${detail}`));
  }

  #stopTimers(): void {
    const { clock } = this.ctx;
    for (const timer of [this.#ackTimer, this.#pingTimer, this.#recoveryTimer]) {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    this.#ackTimer = this.#pingTimer = this.#recoveryTimer = undefined;
  }

  #detach(socket: WebSocketLike): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
  }

  #end(error: HeraldError): void {
    if (this.#done) return;
    this.close();
    this.ctx.events.closed(error);
  }
}
