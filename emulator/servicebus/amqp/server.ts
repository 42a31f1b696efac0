/**
 * The AMQP 1.0 listener: accepts TCP connections (SASL ANONYMOUS or MSSBCBS, or none), and routes
 * every attached link to its handler: `$cbs` (claims), `<entity>/$management` (request/response),
 * entity senders (messages in) and entity receivers (messages out).
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Connection, Delivery, EventContext, Receiver, Sender, Session } from "rhea";
import type { Broker } from "../broker/broker.js";
import { BrokerError } from "../broker/errors.js";
import { CbsHandler } from "./cbs.js";
import { toAmqpError } from "./errors.js";
import { ConsumerLink, IncomingLink } from "./links.js";
import { ManagementHandler } from "./management.js";
import { destroySocket, rawTransfers, rhea, setAttachFields, socketGone } from "./rhea.js";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Largest frame we accept; we advertise it in `open`. */
const MAX_FRAME_SIZE = 1024 * 1024;
/** We ask peers to send something (heartbeats at least) every 2 minutes. */
const IDLE_TIMEOUT_MS = 120_000;

/** Something attached to a link that wants its events. */
export interface LinkHandler {
  onMessage?(delivery: Delivery, payload: Buffer, format: number): void;
  onCredit?(): void;
  onDraining?(): void;
  onOutcome?(delivery: Delivery): void;
  /** The link is gone (peer detach, session end, connection drop). Idempotent. */
  onClosed(): void;
}

/** Per-connection state. */
export class ConnectionState {
  readonly handlers = new Set<LinkHandler>();
  /** Reply links by their target address (management clients use a unique reply-to). */
  readonly replyByAddress = new Map<string, Sender>();
  /** Reply links per session and kind, for clients whose reply link has no target address. */
  readonly replyBySession = new Map<Session, Map<string, Sender>>();
  closed = false;
  constructor(
    readonly id: string,
    readonly connection: Connection,
  ) {}
}

export interface AmqpServerOptions {
  broker: Broker;
  host: string;
  port: number;
  logger: Logger;
}

let connectionCounter = 0;

export class AmqpServer {
  private readonly container = rhea.create_container({ id: `herald-servicebus-${process.pid}` });
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly states = new WeakMap<Connection, ConnectionState>();
  private readonly linkHandlers = new WeakMap<Sender | Receiver, LinkHandler>();
  private readonly cbs: CbsHandler;
  private readonly management: ManagementHandler;
  port = 0;

  private constructor(private readonly options: AmqpServerOptions) {
    this.cbs = new CbsHandler(options.broker.namespace);
    this.management = new ManagementHandler(options.broker, options.logger);
    const mechanisms = this.container.sasl_server_mechanisms as unknown as Record<string, unknown> & {
      enable_anonymous(): void;
    };
    mechanisms.enable_anonymous();
    // .NET clients offer MSSBCBS (claims follow over $cbs): accept it like ANONYMOUS.
    mechanisms["MSSBCBS"] = () => ({
      outcome: undefined as boolean | undefined,
      username: undefined,
      start(this: { outcome: boolean | undefined }) {
        this.outcome = true;
      },
    });
    this.wireEvents();
  }

  /** Listens on `host` (both 127.0.0.1 and ::1 for `localhost`) and resolves once bound. */
  static async start(options: AmqpServerOptions): Promise<AmqpServer> {
    const server = new AmqpServer(options);
    server.port = await listenLoopback(options.host, options.port, (s) => server.attachServer(s));
    return server;
  }

  private attachServer(server: Server): void {
    this.servers.push(server);
    server.on("connection", (socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const id = `c${++connectionCounter}`;
    const connection = this.container.create_connection({
      id,
      container_id: this.container.id,
      max_frame_size: MAX_FRAME_SIZE,
      channel_max: 65535,
      idle_time_out: IDLE_TIMEOUT_MS,
      session_buffer_size: 8192,
      autoaccept: false,
      treat_modified_as_released: false,
      credit_window: 500,
      tcp_no_delay: true,
    } as unknown as Parameters<typeof this.container.create_connection>[0]);
    const state = new ConnectionState(id, connection);
    this.states.set(connection, state);
    this.guardInput(connection);
    batchWrites(connection, socket);
    socket.once("close", () => {
      this.sockets.delete(socket);
      socketGone(connection);
      this.connectionGone(state);
    });
    socket.on("error", () => {
      // Reset by peer and friends: the close handler cleans up.
    });
    (connection as unknown as { accept(s: Socket): void }).accept(socket);
  }

  /**
   * rhea buffers a frame of whatever size its header claims; drop the connection instead when a
   * peer announces a frame far beyond what we advertised, or when rhea gave up on its input.
   */
  private guardInput(connection: Connection): void {
    const c = connection as unknown as {
      input(buf: Buffer): void;
      frame_size?: number;
      saved_error?: unknown;
    };
    const input = c.input;
    c.input = function (this: typeof c, buf: Buffer) {
      input.call(this, buf);
      if ((this.frame_size ?? 0) > MAX_FRAME_SIZE + 1024 || this.saved_error !== undefined) {
        destroySocket(connection);
      }
    };
  }

  private wireEvents(): void {
    const c = this.container;
    const safe =
      (name: string, fn: (ctx: EventContext) => void) =>
      (ctx: EventContext): void => {
        try {
          fn(ctx);
        } catch (err) {
          // A thrown handler would make rhea drop the whole connection: log and carry on.
          this.options.logger.error(
            `${name} handler failed: ${err instanceof Error ? err.stack : String(err)}`,
          );
        }
      };
    c.on(
      "session_open",
      safe("session_open", (ctx) => {
        if (ctx.session) rawTransfers(ctx.session, (link) => this.oversize(link));
      }),
    );
    c.on(
      "sender_open",
      safe("sender_open", (ctx) => this.onSenderOpen(ctx)),
    );
    c.on(
      "receiver_open",
      safe("receiver_open", (ctx) => this.onReceiverOpen(ctx)),
    );
    c.on(
      "message",
      safe("message", (ctx) => {
        const r = ctx.receiver;
        const d = ctx.delivery;
        if (!r || !d) return;
        const h = this.linkHandlers.get(r);
        const payload = ctx.message as unknown as Buffer;
        const format = (ctx as unknown as { format?: number }).format ?? 0;
        if (h?.onMessage && Buffer.isBuffer(payload)) h.onMessage(d, payload, format);
      }),
    );
    const credit = safe("flow", (ctx) => {
      if (ctx.sender) this.linkHandlers.get(ctx.sender)?.onCredit?.();
    });
    c.on("sendable", credit);
    c.on("sender_flow", credit);
    c.on(
      "sender_draining",
      safe("sender_draining", (ctx) => {
        if (ctx.sender) this.linkHandlers.get(ctx.sender)?.onDraining?.();
      }),
    );
    const outcome = safe("disposition", (ctx) => {
      if (ctx.sender && ctx.delivery) this.linkHandlers.get(ctx.sender)?.onOutcome?.(ctx.delivery);
    });
    for (const e of ["accepted", "rejected", "released", "modified"]) c.on(e, outcome);
    const linkClosed = safe("detach", (ctx) => {
      const link = ctx.sender ?? ctx.receiver;
      if (!link) return;
      const h = this.linkHandlers.get(link);
      if (h) this.closeHandler(ctx.connection, h);
    });
    c.on("sender_close", linkClosed);
    c.on("receiver_close", linkClosed);
    c.on(
      "session_close",
      safe("session_close", (ctx) => {
        const state = this.states.get(ctx.connection);
        if (!state || !ctx.session) return;
        state.replyBySession.delete(ctx.session);
        for (const [link, h] of this.handlersOfSession(state, ctx.session)) {
          this.linkHandlers.delete(link);
          this.closeHandler(ctx.connection, h);
        }
      }),
    );
    c.on(
      "connection_close",
      safe("connection_close", (ctx) => {
        const state = this.states.get(ctx.connection);
        if (state) this.connectionGone(state);
      }),
    );
    c.on(
      "disconnected",
      safe("disconnected", (ctx) => {
        const state = this.states.get(ctx.connection);
        if (state) this.connectionGone(state);
      }),
    );
    // Without listeners rhea rethrows these (and kills the connection or the process).
    for (const e of ["sender_error", "receiver_error", "session_error", "connection_error"])
      c.on(e, () => {});
    c.on("error", (err: unknown) => this.options.logger.warn(`amqp: ${String(err)}`));
    c.on("protocol_error", (err: unknown) => this.options.logger.warn(`amqp protocol error: ${String(err)}`));
  }

  private *handlersOfSession(
    state: ConnectionState,
    session: Session,
  ): Generator<[Sender | Receiver, LinkHandler]> {
    for (const h of state.handlers) {
      const link = (h as { link?: Sender | Receiver }).link;
      if (link && link.session === session) yield [link, h];
    }
  }

  private closeHandler(connection: Connection, h: LinkHandler): void {
    this.states.get(connection)?.handlers.delete(h);
    h.onClosed();
  }

  private connectionGone(state: ConnectionState): void {
    if (state.closed) return;
    state.closed = true;
    for (const h of state.handlers) h.onClosed();
    state.handlers.clear();
    state.replyByAddress.clear();
    state.replyBySession.clear();
  }

  private oversize(link: Receiver): void {
    this.options.logger.warn(
      `connection ${this.states.get(link.connection)?.id}: delivery over 16 MiB, dropping connection`,
    );
    destroySocket(link.connection);
  }

  private register(state: ConnectionState, link: Sender | Receiver, h: LinkHandler): void {
    state.handlers.add(h);
    this.linkHandlers.set(link, h);
  }

  /** Answers an attach with a null terminus and an immediate detach carrying the error. */
  refuse(link: Sender | Receiver, err: unknown): void {
    const e = toAmqpError(err);
    link.close({ condition: e.condition, description: e.description });
  }

  // -------------------------------------------------------------------------------------------
  // Links where we send (the peer receives)

  private onSenderOpen(ctx: EventContext): void {
    const sender = ctx.sender;
    const state = this.states.get(ctx.connection);
    if (!sender || !state) return;
    const source = sender.source as { address?: string; filter?: Record<string, unknown> } | null;
    const target = sender.target as { address?: string } | null;
    const address = source?.address;
    if (typeof address !== "string" || address === "") {
      this.refuse(sender, new BrokerError("BadRequest", "The receiver link has no source address."));
      return;
    }
    if (address === "$cbs" || /(^|\/)\$management$/i.test(address)) {
      sender.set_source({ address });
      if (target?.address) sender.set_target({ address: target.address });
      const kind = address === "$cbs" ? "$cbs" : "$management";
      if (target?.address) state.replyByAddress.set(target.address, sender);
      let bySession = state.replyBySession.get(sender.session);
      if (!bySession) state.replyBySession.set(sender.session, (bySession = new Map()));
      bySession.set(kind, sender);
      const handler: LinkHandler & { link: Sender } = {
        link: sender,
        onClosed: () => {
          if (target?.address && state.replyByAddress.get(target.address) === sender) {
            state.replyByAddress.delete(target.address);
          }
          const m = state.replyBySession.get(sender.session);
          if (m?.get(kind) === sender) m.delete(kind);
        },
      };
      this.register(state, sender, handler);
      return;
    }
    if (address.startsWith("$")) {
      this.refuse(
        sender,
        new BrokerError("EntityNotFound", `The messaging entity '${address}' could not be found.`),
      );
      return;
    }
    let consumer: ConsumerLink;
    try {
      const store = this.options.broker.resolveStore(address);
      this.options.broker.checkReceivable(store);
      consumer = new ConsumerLink(this.options.broker, store, sender, this.options.logger);
    } catch (err) {
      this.refuse(sender, err);
      return;
    }
    this.register(state, sender, consumer);
    consumer.open((err) => {
      if (err) {
        this.linkHandlers.delete(sender);
        state.handlers.delete(consumer);
        this.refuse(sender, err);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Links where we receive (the peer sends)

  private onReceiverOpen(ctx: EventContext): void {
    const receiver = ctx.receiver;
    const state = this.states.get(ctx.connection);
    if (!receiver || !state) return;
    const target = receiver.target as { address?: string } | null;
    const source = receiver.source as { address?: string } | null;
    const address = target?.address;
    if (typeof address !== "string" || address === "") {
      this.refuse(receiver, new BrokerError("BadRequest", "The sender link has no target address."));
      return;
    }
    const accept = (): void => {
      receiver.set_target({ address });
      if (source?.address) receiver.set_source({ address: source.address });
      setAttachFields(receiver, { rcvSettleMode: 0 });
    };
    if (address === "$cbs") {
      accept();
      const h: LinkHandler & { link: Receiver } = {
        link: receiver,
        onMessage: (d, payload) =>
          this.cbs.handle(receiver, d, payload, (reply, to) =>
            this.reply(state, receiver.session, "$cbs", to, reply),
          ),
        onClosed: () => {},
      };
      this.register(state, receiver, h);
      return;
    }
    const mgmt = /^(.*)\/\$management$/i.exec(address);
    if (mgmt) {
      accept();
      const entity = mgmt[1]!;
      const h: LinkHandler & { link: Receiver } = {
        link: receiver,
        onMessage: (d, payload) =>
          this.management.handle(entity, d, payload, (reply, to) =>
            this.reply(state, receiver.session, "$management", to, reply),
          ),
        onClosed: () => {},
      };
      this.register(state, receiver, h);
      return;
    }
    if (address.startsWith("$")) {
      this.refuse(
        receiver,
        new BrokerError("EntityNotFound", `The messaging entity '${address}' could not be found.`),
      );
      return;
    }
    let incoming: IncomingLink;
    try {
      const entity = this.options.broker.resolveSendTarget(address);
      accept();
      incoming = new IncomingLink(this.options.broker, entity, receiver, this.options.logger);
    } catch (err) {
      this.refuse(receiver, err);
      return;
    }
    this.register(state, receiver, incoming);
  }

  /** Sends a `$cbs`/`$management` reply on the link the client listens on. */
  private reply(
    state: ConnectionState,
    session: Session,
    kind: string,
    to: string | undefined,
    payload: Buffer,
  ): void {
    const link =
      (to !== undefined ? state.replyByAddress.get(to) : undefined) ??
      state.replyBySession.get(session)?.get(kind);
    if (!link || !link.is_open()) {
      this.options.logger.warn(
        `connection ${state.id}: no reply link for ${kind} response to '${to ?? "?"}'`,
      );
      return;
    }
    link.send(payload, undefined, 0);
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
          }),
      ),
    );
  }

  get connectionCount(): number {
    return this.sockets.size;
  }
}

/**
 * rhea writes every frame with its own socket.write(); corking the socket while rhea processes
 * a turn's worth of work turns hundreds of small writes into one.
 */
function batchWrites(connection: Connection, socket: Socket): void {
  const c = connection as unknown as { _process(): void };
  const process = c._process;
  c._process = function (this: typeof c) {
    socket.cork();
    try {
      process.call(this);
    } finally {
      socket.uncork();
    }
  };
}

const LOOPBACK_V4 = /^127(\.\d{1,3}){3}$/;

/** Whether `host` is a loopback name or address (the only hosts the emulator listens on). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || LOOPBACK_V4.test(host) || host === "::1" || host === "[::1]";
}

function listenOne(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true });
    const onError = (err: Error): void => {
      server.close();
      reject(err);
    };
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve(server);
    });
  });
}

/**
 * Listens on a loopback host. `localhost` means both 127.0.0.1 and ::1 on the same port (clients
 * may resolve it either way); with port 0 a port free on both is picked.
 */
export async function listenLoopback(host: string, port: number, use: (s: Server) => void): Promise<number> {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare !== "localhost") {
    const s = await listenOne(bare, port);
    use(s);
    return (s.address() as { port: number }).port;
  }
  for (let attempt = 0; ; attempt++) {
    const v4 = await listenOne("127.0.0.1", port);
    const actual = (v4.address() as { port: number }).port;
    try {
      const v6 = await listenOne("::1", actual);
      use(v4);
      use(v6);
      return actual;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") {
        // No IPv6 loopback on this machine: 127.0.0.1 alone is all localhost can mean.
        use(v4);
        return actual;
      }
      await new Promise<void>((r) => v4.close(() => r()));
      if (port !== 0 || attempt >= 20) throw err;
    }
  }
}
