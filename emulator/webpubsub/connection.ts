/**
 * One client connection: its socket (replaced on recovery), frame reader, outbound queue,
 * reliable-protocol state and the handling of what the client sends.
 *
 * Memory per idle connection is a budget (see bench/webpubsub): optional state is `null` until
 * used, socket listeners are shared functions that find the connection through a symbol on
 * the socket, and there is no per-connection timer while a connection is healthy.
 */
import type { Socket } from "node:net";
import { randomId } from "./auth.js";
import type { FilterTarget } from "./filter.js";
import type { Hub } from "./hub.js";
import type { Permissions } from "./permissions.js";
import {
  OutboundMessage,
  PLAIN,
  PONG_FRAME,
  ProtocolError,
  RELIABLE,
  ackFrame,
  disconnectedFrame,
  parseClientMessage,
  reliableFrameSize,
  validGroupName,
  writeReliableFrame,
  type AckErrorName,
  type ClientMessage,
  type DataType,
  type Kind,
} from "./protocol.js";
import {
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
  CLOSE_POLICY_VIOLATION,
  CLOSE_UNSUPPORTED_DATA,
  FrameReader,
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  encodeClose,
  encodeFrame,
  type FrameSink,
} from "./websocket.js";

export const OPEN = 0;
/** A reliable connection whose socket dropped, waiting for recovery. */
export const DETACHED = 1;
export const CLOSED = 2;

const OWNER = Symbol("webpubsub.connection");
type OwnedSocket = Socket & { [OWNER]?: Connection | null };

/** Up to this many bytes per flush are copied into one buffer; larger batches are written corked. */
const COPY_LIMIT = 64 * 1024;
/** Processed ackIds remembered per connection for `Duplicate` answers. */
const ACK_MEMORY = 4096;

export const OUTBOUND_FULL = "The outbound message queue is full.";
export const RELIABLE_FULL = "The reliable message buffer is full.";
const EMPTY_CLOSE = encodeFrame(OP_CLOSE, Buffer.alloc(0));

/** The unacknowledged messages of a reliable connection, sequence ids `acked+1 … seq`. */
class Reliable {
  /** The secret a recovering client presents; valid while this connection exists. */
  readonly token = randomId();
  seq = 0;
  acked = 0;
  bytes = 0;
  unacked: (OutboundMessage | undefined)[] = [];
  head = 0;
  expiry: NodeJS.Timeout | null = null;

  get count(): number {
    return this.seq - this.acked;
  }

  ack(upTo: number): void {
    const target = Math.min(upTo, this.seq);
    while (this.acked < target) {
      const m = this.unacked[this.head]!;
      this.unacked[this.head++] = undefined;
      this.bytes -= m.retainedBytes;
      this.acked++;
    }
    if (this.head === this.unacked.length) {
      this.unacked = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.unacked.length) {
      this.unacked = this.unacked.slice(this.head);
      this.head = 0;
    }
  }
}

export interface ConnectionInit {
  id: string;
  userId: string | null;
  kind: Kind;
  subprotocol: string | undefined;
  permissions: Permissions | null;
  /** `webpubsub_mode=sendToGroup&group=…` for plain clients. */
  publishGroup: string | undefined;
}

export class Connection implements FilterTarget, FrameSink {
  readonly id: string;
  readonly userId: string | null;
  readonly kind: Kind;
  readonly subprotocol: string | undefined;
  readonly connectionId: string;
  permissions: Permissions | null;
  groupSet: Set<string> | null = null;
  socket: OwnedSocket | null = null;
  private reader: FrameReader | null = null;
  state = OPEN;
  /** Last time anything arrived from the client (ms). */
  lastSeen = Date.now();
  private pinged = false;
  /** Private items queued in this turn: ready frames (control) or messages to frame per kind. */
  pending: (Buffer | OutboundMessage)[] | null = null;
  /** Entries of the hub's log already copied into `pending` (or to skip, for a new connection). */
  logMark = 0;
  private readonly rel: Reliable | null;
  private ackIds: Set<number> | null = null;
  private readonly publishGroup: string | undefined;

  constructor(
    readonly hub: Hub,
    init: ConnectionInit,
  ) {
    this.id = init.id;
    this.connectionId = init.id;
    this.userId = init.userId;
    this.kind = init.kind;
    this.subprotocol = init.subprotocol;
    this.permissions = init.permissions;
    this.publishGroup = init.publishGroup;
    this.rel = init.kind === RELIABLE ? new Reliable() : null;
  }

  get isReliable(): boolean {
    return this.rel !== null;
  }

  /** The reconnection token of a reliable connection (`null` for the other protocols). */
  get reconnectionToken(): string | null {
    return this.rel?.token ?? null;
  }

  // ---- socket ----------------------------------------------------------------------------

  /** Starts reading and writing on `socket` (a new connection or a recovery). */
  attach(socket: Socket, head: Buffer): void {
    const owned = socket as OwnedSocket;
    if (this.socket !== null && this.socket !== owned) this.dropSocket();
    if (this.rel?.expiry) {
      clearTimeout(this.rel.expiry);
      this.rel.expiry = null;
    }
    this.state = OPEN;
    this.socket = owned;
    this.reader = new FrameReader(this.hub.service.config.maxMessageBytes);
    this.lastSeen = Date.now();
    this.pinged = false;
    owned[OWNER] = this;
    owned.setNoDelay(true);
    owned.on("data", onSocketData);
    owned.on("end", onSocketEnd);
    owned.on("close", onSocketClose);
    owned.on("error", onSocketError);
    if (head.length > 0) this.onData(owned, head);
  }

  /** Sends again what the client has not acknowledged (after recovery), in order. */
  replay(): void {
    const rel = this.rel;
    const socket = this.socket;
    if (rel === null || socket === null || rel.count === 0) return;
    const messages = rel.unacked.slice(rel.head) as OutboundMessage[];
    let total = 0;
    for (let i = 0; i < messages.length; i++) total += reliableFrameSize(messages[i]!, rel.acked + 1 + i);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < messages.length; i++)
      at = writeReliableFrame(out, at, messages[i]!, rel.acked + 1 + i);
    socket.write(out);
    this.checkBackpressure(socket);
  }

  onData(socket: OwnedSocket, chunk: Buffer): void {
    if (socket !== this.socket || this.reader === null) return;
    this.lastSeen = Date.now();
    this.pinged = false;
    this.reader.feed(chunk, this);
  }

  /** The socket closed (TCP level). */
  onSocketClosed(socket: OwnedSocket): void {
    socket[OWNER] = null;
    if (socket !== this.socket) return;
    this.socket = null;
    this.reader = null;
    if (this.state !== OPEN) return;
    if (this.rel !== null) this.detach();
    else this.hub.remove(this.finish(), "The connection was closed by the client.");
  }

  /** Forget the current socket without treating it as a client action (replaced or terminated). */
  private dropSocket(): void {
    const s = this.socket;
    if (s === null) return;
    s[OWNER] = null;
    this.socket = null;
    this.reader = null;
    s.destroy();
  }

  /** A reliable connection lost its socket: keep its state for the recovery window. */
  private detach(): void {
    const rel = this.rel!;
    this.state = DETACHED;
    this.dropSocket();
    const window = this.hub.service.config.recoveryWindowMs;
    rel.expiry = setTimeout(() => {
      rel.expiry = null;
      if (this.state === DETACHED) this.hub.remove(this.finish(), "Connection recovery timed out.");
    }, window);
    rel.expiry.unref();
  }

  /** Marks the connection closed and releases its buffers; returns it for `hub.remove`. */
  private finish(): this {
    this.state = CLOSED;
    this.pending = null;
    this.ackIds = null;
    const rel = this.rel;
    if (rel !== null) {
      if (rel.expiry) clearTimeout(rel.expiry);
      rel.expiry = null;
      rel.unacked = [];
      rel.head = 0;
      rel.bytes = 0;
      rel.acked = rel.seq;
    }
    return this;
  }

  /**
   * Closes the connection from the service side: queued messages, then (JSON protocols) a
   * `disconnected` system message, then a close frame; the socket is destroyed if the client
   * does not answer within `closeTimeoutMs`. The session ends for good (no recovery).
   */
  close(code: number, reason: string, options: { dropQueued?: boolean } = {}): void {
    if (this.state === CLOSED) return;
    const socket = this.socket;
    if (socket !== null && !options.dropQueued) {
      this.flush(this.hub.log);
      // Flushing can itself close the connection (a full reliable buffer).
      if (this.state === CLOSED) return;
    }
    this.hub.remove(this.finish(), reason);
    if (socket === null) return;
    // Keep reading: the client's answering close frame ends the TCP connection.
    if (this.kind !== PLAIN) socket.write(disconnectedFrame(reason));
    socket.write(encodeClose(code, reason));
    this.hub.service.linger(socket);
  }

  /** Emulator shutdown: close with 1001; the service destroys sockets that linger. */
  shutdown(): void {
    const socket = this.socket;
    if (this.state !== CLOSED) this.hub.remove(this.finish(), "The service is shutting down.");
    if (socket !== null) {
      socket[OWNER] = null;
      this.socket = null;
      socket.end(encodeClose(CLOSE_GOING_AWAY, "The service is shutting down."));
      this.hub.service.linger(socket);
    }
  }

  /** Keep-alive sweep: ping a silent client, drop a dead one. */
  keepAlive(now: number, interval: number, timeout: number): void {
    const socket = this.socket;
    if (socket === null || this.state !== OPEN) return;
    const silent = now - this.lastSeen;
    if (silent >= timeout) {
      this.hub.service.config.logger.warn("keepalive-timeout", { hub: this.hub.name, connectionId: this.id });
      if (this.rel !== null) this.detach();
      else {
        this.hub.remove(this.finish(), "PingTimeout");
        this.socket = null;
        socket[OWNER] = null;
        socket.destroy();
      }
    } else if (silent >= interval && !this.pinged) {
      this.pinged = true;
      this.enqueue(PING_FRAME);
    }
  }

  // ---- outbound --------------------------------------------------------------------------

  /** Queues a frame (Buffer) or a message for this connection; written at the end of the turn. */
  enqueue(item: Buffer | OutboundMessage): void {
    if (this.state === CLOSED) return;
    const hub = this.hub;
    let pending = this.pending;
    if (pending === null) {
      pending = this.pending = [];
      hub.markDirty(this);
    }
    const log = hub.log;
    if (log.length > this.logMark) {
      for (let i = this.logMark; i < log.length; i++) pending.push(log[i]!);
      this.logMark = log.length;
    }
    pending.push(item);
  }

  /** Writes a buffer shared with other connections (the log's frames for this kind). */
  writeShared(frames: Buffer, messages: number): void {
    const socket = this.socket!;
    socket.write(frames);
    this.hub.service.stats.deliveries += messages;
    this.checkBackpressure(socket);
  }

  /** Writes this connection's queue followed by the log entries it has not seen, in one write. */
  flush(log: readonly OutboundMessage[]): void {
    const pending = this.pending;
    const from = this.logMark;
    this.pending = null;
    this.logMark = 0;
    if (this.state === CLOSED) return;
    if (this.rel !== null) return this.flushReliable(pending, log, from, this.rel);
    const socket = this.socket;
    if (socket === null) return;
    const count = (pending?.length ?? 0) + log.length - from;
    if (count <= 0) return;
    const plain = this.kind === PLAIN;
    const frames: Buffer[] = new Array<Buffer>(count);
    let messages = 0;
    let total = 0;
    let k = 0;
    if (pending !== null) {
      for (const item of pending) {
        let frame: Buffer;
        if (item instanceof OutboundMessage) {
          frame = plain ? item.plainFrame() : item.jsonFrame();
          messages++;
        } else {
          frame = item;
        }
        frames[k++] = frame;
        total += frame.length;
      }
    }
    for (let i = from; i < log.length; i++) {
      const frame = plain ? log[i]!.plainFrame() : log[i]!.jsonFrame();
      frames[k++] = frame;
      total += frame.length;
      messages++;
    }
    writeFrames(socket, frames, total);
    this.hub.service.stats.deliveries += messages;
    this.checkBackpressure(socket);
  }

  /**
   * Writes the log to a reliable connection with nothing else queued. Its frames depend only on
   * the connection's first sequence id, so connections at the same id (all that received the
   * same broadcasts) share one buffer, built once per turn.
   */
  writeReliableLog(log: readonly OutboundMessage[], shared: Map<number, Buffer>): void {
    const rel = this.rel!;
    const socket = this.socket!;
    let bytes = rel.bytes;
    for (const m of log) bytes += m.retainedBytes;
    if (!this.reserve(rel, rel.seq + log.length, bytes)) return;
    let frames = shared.get(rel.seq);
    if (frames === undefined) {
      let total = 0;
      for (let i = 0; i < log.length; i++) total += reliableFrameSize(log[i]!, rel.seq + 1 + i);
      frames = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < log.length; i++) at = writeReliableFrame(frames, at, log[i]!, rel.seq + 1 + i);
      shared.set(rel.seq, frames);
    }
    for (const m of log) rel.unacked.push(m);
    rel.seq += log.length;
    rel.bytes = bytes;
    this.hub.service.stats.deliveries += log.length;
    socket.write(frames);
    this.checkBackpressure(socket);
  }

  /** Checks the unacknowledged-buffer limits for a new last id and size; closes (1008) when passed. */
  private reserve(rel: Reliable, seq: number, bytes: number): boolean {
    const config = this.hub.service.config;
    if (seq - rel.acked <= config.reliableMaxMessages && bytes <= config.reliableMaxBytes) return true;
    this.hub.service.stats.reliableBufferOverflows++;
    config.logger.warn("reliable-buffer-full", { hub: this.hub.name, connectionId: this.id });
    this.close(CLOSE_POLICY_VIOLATION, RELIABLE_FULL, { dropQueued: true });
    return false;
  }

  private flushReliable(
    pending: (Buffer | OutboundMessage)[] | null,
    log: readonly OutboundMessage[],
    from: number,
    rel: Reliable,
  ): void {
    const socket = this.socket;
    let seq = rel.seq;
    let total = 0;
    let bytes = rel.bytes;
    if (pending !== null) {
      for (const item of pending) {
        if (item instanceof OutboundMessage) {
          seq++;
          bytes += item.retainedBytes;
          total += reliableFrameSize(item, seq);
        } else if (socket !== null) {
          total += item.length;
        }
      }
    }
    for (let i = from; i < log.length; i++) {
      seq++;
      bytes += log[i]!.retainedBytes;
      total += reliableFrameSize(log[i]!, seq);
    }
    if (!this.reserve(rel, seq, bytes)) return;
    let n = rel.seq + 1;
    this.hub.service.stats.deliveries += seq - rel.seq;
    rel.seq = seq;
    rel.bytes = bytes;
    if (pending !== null)
      for (const item of pending) if (item instanceof OutboundMessage) rel.unacked.push(item);
    for (let i = from; i < log.length; i++) rel.unacked.push(log[i]!);
    if (socket === null || total === 0) return; // buffered for recovery; control frames are moot without a socket
    if (total <= COPY_LIMIT) {
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      if (pending !== null) {
        for (const item of pending) {
          if (item instanceof OutboundMessage) at = writeReliableFrame(out, at, item, n++);
          else at += item.copy(out, at);
        }
      }
      for (let i = from; i < log.length; i++) at = writeReliableFrame(out, at, log[i]!, n++);
      socket.write(out);
    } else {
      socket.cork();
      const one = (m: OutboundMessage): void => {
        const frame = Buffer.allocUnsafe(reliableFrameSize(m, n));
        writeReliableFrame(frame, 0, m, n++);
        socket.write(frame);
      };
      if (pending !== null) {
        for (const item of pending) {
          if (item instanceof OutboundMessage) one(item);
          else socket.write(item);
        }
      }
      for (let i = from; i < log.length; i++) one(log[i]!);
      socket.uncork();
    }
    this.checkBackpressure(socket);
  }

  private checkBackpressure(socket: Socket): void {
    if (socket.writableLength <= this.hub.service.config.outboundBufferLimit) return;
    const service = this.hub.service;
    service.stats.slowClientsClosed++;
    service.config.logger.warn("slow-client", {
      hub: this.hub.name,
      connectionId: this.id,
      buffered: socket.writableLength,
    });
    this.close(CLOSE_POLICY_VIOLATION, OUTBOUND_FULL, { dropQueued: true });
  }

  // ---- inbound (FrameSink) ---------------------------------------------------------------

  onPing(data: Buffer): void {
    if (this.state === OPEN) this.enqueue(encodeFrame(OP_PONG, data));
  }

  onClose(code: number, reason: string): void {
    const socket = this.socket;
    if (socket === null) return;
    if (this.state === CLOSED) {
      // The client answered our close frame.
      socket.end();
      return;
    }
    // Echo the close (RFC 6455 5.5.1) and end the TCP connection.
    socket.end(code === CLOSE_NO_STATUS ? EMPTY_CLOSE : encodeClose(code, ""));
    socket[OWNER] = null;
    this.socket = null;
    this.reader = null;
    // The reliable protocol ends its session only on a normal close; anything else may recover.
    if (this.rel !== null && code !== CLOSE_NORMAL) {
      this.detach();
      return;
    }
    this.hub.remove(this.finish(), reason === "" ? `The client closed the connection (${code}).` : reason);
  }

  onFrameError(code: number, reason: string): void {
    this.protocolClose(code, reason);
  }

  onMessage(binary: boolean, data: Buffer): void {
    if (this.state !== OPEN) return;
    if (this.kind === PLAIN) {
      this.onPlainMessage(binary, data);
      return;
    }
    if (binary) {
      this.protocolClose(CLOSE_UNSUPPORTED_DATA, "The JSON subprotocol requires text messages.");
      return;
    }
    let message: ClientMessage;
    try {
      message = parseClientMessage(data.toString("utf8"));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.protocolClose(CLOSE_INVALID_PAYLOAD, err.message);
      return;
    }
    this.dispatch(message);
  }

  /** Closes after a client protocol violation; never recoverable. */
  private protocolClose(code: number, reason: string): void {
    this.hub.service.config.logger.warn("protocol-error", {
      hub: this.hub.name,
      connectionId: this.id,
      code,
      reason,
    });
    this.close(code, reason, { dropQueued: true });
  }

  private dispatch(m: ClientMessage): void {
    switch (m.type) {
      case "ping":
        this.enqueue(PONG_FRAME);
        return;
      case "sequenceAck":
        this.rel?.ack(m.sequenceId);
        return;
      default:
        break;
    }
    if (m.ackId !== undefined && this.ackIds?.has(m.ackId)) {
      this.ack(m.ackId, "Duplicate", `Message with ack-id: ${m.ackId} has been processed`);
      return;
    }
    const hub = this.hub;
    switch (m.type) {
      case "joinGroup":
      case "leaveGroup": {
        if (!validGroupName(m.group)) return this.ack(m.ackId, "BadRequest", INVALID_GROUP);
        if (!this.permissions?.can("joinLeaveGroup", m.group)) {
          const verb = m.type === "joinGroup" ? "join" : "leave";
          return this.ack(
            m.ackId,
            "Forbidden",
            `The client does not have permission to ${verb} group '${m.group}'.`,
          );
        }
        if (m.type === "joinGroup") hub.join(this, m.group);
        else hub.leave(this, m.group);
        return this.ack(m.ackId);
      }
      case "sendToGroup": {
        if (!validGroupName(m.group)) return this.ack(m.ackId, "BadRequest", INVALID_GROUP);
        if (!this.permissions?.can("sendToGroup", m.group))
          return this.ack(
            m.ackId,
            "Forbidden",
            `The client does not have permission to send to group '${m.group}'.`,
          );
        const message = new OutboundMessage(m.dataType, m.data, m.group, this.userId);
        hub.sendToGroup(m.group, message, m.noEcho ? { sender: this } : {});
        return this.ack(m.ackId);
      }
      case "event":
        this.sendEvent(m.event, m.dataType, m.data, m.ackId);
        return;
    }
  }

  private sendEvent(event: string, dataType: DataType, data: Buffer, ackId: number | undefined): void {
    const upstream = this.hub.service.upstream;
    if (!upstream.handles(this.hub.name, event)) {
      this.ack(ackId, "InternalServerError", `No event handler accepts the event '${event}'.`);
      return;
    }
    upstream.userEvent(this.hub.name, this, event, dataType, data).then(
      (result) => {
        if (this.state === CLOSED) return;
        if (!result.ok) return this.ack(ackId, "InternalServerError", result.message);
        if (result.response !== undefined)
          this.enqueue(new OutboundMessage(result.response.dataType, result.response.data));
        this.ack(ackId);
      },
      () => this.ack(ackId, "InternalServerError", "Internal server error"),
    );
  }

  private onPlainMessage(binary: boolean, data: Buffer): void {
    const dataType: DataType = binary ? "binary" : "text";
    const group = this.publishGroup;
    if (group !== undefined) {
      if (!this.permissions?.can("sendToGroup", group)) {
        this.protocolClose(
          CLOSE_POLICY_VIOLATION,
          `The client does not have permission to send to group '${group}'.`,
        );
        return;
      }
      this.hub.sendToGroup(group, new OutboundMessage(dataType, data, group, this.userId));
      return;
    }
    const upstream = this.hub.service.upstream;
    if (!upstream.handles(this.hub.name, "message")) {
      // As the service does: a plain client's messages go to the event handler, and without one
      // the connection cannot be served.
      this.protocolClose(CLOSE_INTERNAL_ERROR, "No event handler accepts the event 'message'.");
      return;
    }
    upstream.userEvent(this.hub.name, this, "message", dataType, data).then(
      (result) => {
        if (this.state === CLOSED || !result.ok || result.response === undefined) return;
        this.enqueue(new OutboundMessage(result.response.dataType, result.response.data));
      },
      () => undefined,
    );
  }

  /** Answers an ackId (nothing when the client sent none). */
  private ack(ackId: number | undefined, error?: AckErrorName, message?: string): void {
    if (ackId === undefined || this.state === CLOSED) return;
    if (error === undefined) {
      const ids = (this.ackIds ??= new Set());
      ids.add(ackId);
      if (ids.size > ACK_MEMORY) ids.delete(ids.values().next().value!);
      this.enqueue(ackFrame(ackId));
    } else {
      this.enqueue(ackFrame(ackId, { name: error, message: message ?? error }));
    }
  }

  // ---- reliable helpers for REST / tests ---------------------------------------------------

  /** Unacknowledged messages held (reliable only). */
  get unackedCount(): number {
    return this.rel?.count ?? 0;
  }
}

const INVALID_GROUP = "The group name must be 1 to 1024 characters and not only white space.";
const PING_FRAME = encodeFrame(OP_PING, Buffer.alloc(0));

function writeFrames(socket: Socket, frames: Buffer[], total: number): void {
  if (frames.length === 1) {
    socket.write(frames[0]!);
  } else if (total <= COPY_LIMIT) {
    socket.write(Buffer.concat(frames, total));
  } else {
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
  }
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]?.onData(this, chunk);
}

function onSocketEnd(this: OwnedSocket): void {
  // HTTP server sockets allow half-open connections; a client FIN without a close frame ends ours too.
  this.end();
}

function onSocketClose(this: OwnedSocket): void {
  this[OWNER]?.onSocketClosed(this);
}

function onSocketError(this: OwnedSocket): void {
  // 'close' follows; resets and write-after-end errors need no other handling.
}
