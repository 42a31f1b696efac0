/**
 * The emulated service instance: configuration, the hubs (created on first use, as the service
 * serves any hub name), the fan-out scheduler, the keep-alive sweep and counters.
 */
import type { Socket } from "node:net";
import { Hub } from "./hub.js";
import type { Connection } from "./connection.js";
import type { EventHandlerSettings } from "./upstream.js";
import { Upstream } from "./upstream.js";

export interface ServiceConfig {
  /** The access key; its UTF-8 bytes sign every token. */
  readonly key: string;
  /** Clock skew tolerated on token `exp`/`nbf`, in seconds. */
  readonly clockSkewSeconds: number;
  /** Largest client WebSocket message and REST body, in bytes. */
  readonly maxMessageBytes: number;
  /** Bytes a socket may hold unsent (beyond what the kernel took) before the client is closed as slow. */
  readonly outboundBufferLimit: number;
  /** Unacknowledged messages a reliable connection may hold. */
  readonly reliableMaxMessages: number;
  /** Unacknowledged bytes a reliable connection may hold. */
  readonly reliableMaxBytes: number;
  /** How long a dropped reliable connection waits for recovery. */
  readonly recoveryWindowMs: number;
  /** Silence after which the emulator pings a connection (0 = never). */
  readonly keepAliveIntervalMs: number;
  /** Silence after which a connection is considered dead. */
  readonly keepAliveTimeoutMs: number;
  /** How long a closing socket may take to answer our close frame. */
  readonly closeTimeoutMs: number;
  /** Event handler per hub (lowercase name), or for every hub under "*". */
  readonly eventHandlers: ReadonlyMap<string, EventHandlerSettings>;
  readonly logger: EmulatorLogger;
}

/** Structured log lines: an event name and ids, never message bodies or tokens. */
export interface EmulatorLogger {
  info(event: string, fields?: Record<string, string | number | null | undefined>): void;
  warn(event: string, fields?: Record<string, string | number | null | undefined>): void;
}

export const silentLogger: EmulatorLogger = { info() {}, warn() {} };

export interface EmulatorStats {
  /** Open connections plus reliable ones waiting for recovery. */
  connections: number;
  /** Data messages handed to connections (written or buffered for recovery). */
  deliveries: number;
  /** Connections closed because their outbound buffer passed the limit. */
  slowClientsClosed: number;
  /** Reliable connections closed because their unacknowledged buffer was full. */
  reliableBufferOverflows: number;
  /** Successful recoveries of reliable connections. */
  recoveries: number;
}

export class Service {
  readonly hubs = new Map<string, Hub>();
  readonly upstream: Upstream;
  readonly stats: EmulatorStats = {
    connections: 0,
    deliveries: 0,
    slowClientsClosed: 0,
    reliableBufferOverflows: 0,
    recoveries: 0,
  };
  private readonly dirtyHubs: Hub[] = [];
  private flushScheduled = false;
  private readonly sweep: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly lingering = new Set<Socket>();

  constructor(readonly config: ServiceConfig) {
    this.upstream = new Upstream(config);
    const interval = config.keepAliveIntervalMs;
    if (interval > 0) {
      this.sweep = setInterval(
        () => this.keepAlive(),
        Math.max(50, Math.min(interval, config.keepAliveTimeoutMs) / 2),
      );
      this.sweep.unref();
    }
  }

  /** The hub for a (validated) name; hub names are case-insensitive. */
  hub(name: string): Hub {
    const key = name.toLowerCase();
    let hub = this.hubs.get(key);
    if (hub === undefined) {
      hub = new Hub(this, key);
      this.hubs.set(key, hub);
    }
    return hub;
  }

  /** Existing hub or undefined (REST reads must not create hubs). */
  findHub(name: string): Hub | undefined {
    return this.hubs.get(name.toLowerCase());
  }

  /**
   * Fan-out is deferred to the end of the event-loop turn (setImmediate), so that everything
   * sent in one turn — several REST requests read in one poll phase, acks, group messages —
   * goes out as one write per socket.
   */
  scheduleFlush(hub: Hub): void {
    this.dirtyHubs.push(hub);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    // Hubs may be re-queued while flushing (a flush that closes a connection sends nothing new).
    for (let i = 0; i < this.dirtyHubs.length; i++) this.dirtyHubs[i]!.flush();
    this.dirtyHubs.length = 0;
  };

  private keepAlive(): void {
    const now = Date.now();
    const { keepAliveIntervalMs, keepAliveTimeoutMs } = this.config;
    for (const hub of this.hubs.values()) {
      for (const c of hub.connections.values()) c.keepAlive(now, keepAliveIntervalMs, keepAliveTimeoutMs);
    }
  }

  /**
   * Sockets on their way out (closing handshake, refused upgrades): destroyed if the client
   * has not closed them within `closeTimeoutMs`, and at shutdown.
   */
  linger(socket: Socket): void {
    if (socket.destroyed || this.lingering.has(socket)) return;
    this.lingering.add(socket);
    const timer = setTimeout(() => socket.destroy(), this.config.closeTimeoutMs);
    timer.unref();
    socket.once("close", () => {
      clearTimeout(timer);
      this.lingering.delete(socket);
    });
  }

  get closing(): boolean {
    return this.closed;
  }

  /** Closes every connection (going away); resolves when all their sockets are gone. */
  async shutdown(graceMs = 1000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    for (const hub of this.hubs.values()) {
      const all: Connection[] = [...hub.connections.values()];
      for (const c of all) c.shutdown();
    }
    const sockets = [...this.lingering];
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.destroyed) return resolve();
            const timer = setTimeout(() => s.destroy(), graceMs);
            s.once("close", () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    this.upstream.close();
  }
}
