/**
 * One hub: its connections, users and groups, and the fan-out of messages to them.
 *
 * Fan-out is the hot path. An unfiltered send to everyone is appended to the hub's `log` for
 * this event-loop turn; at the end of the turn every connection without private traffic gets
 * one write of a buffer shared by all connections of its kind (the log's frames, concatenated
 * once). Connections with private traffic (acks, user/group messages, reliable sequence ids)
 * get their frames built and written as one buffer per socket. Order per connection is kept:
 * before a private item is queued, the log entries it must follow are copied into its queue.
 */
import type { Connection } from "./connection.js";
import type { FilterPredicate } from "./filter.js";
import { JSON_KIND, PLAIN, RELIABLE, type OutboundMessage } from "./protocol.js";
import type { Service } from "./service.js";
import { CLOSE_NORMAL } from "./websocket.js";

const NO_LOG: readonly OutboundMessage[] = [];

export class Hub {
  readonly connections = new Map<string, Connection>();
  readonly users = new Map<string, Set<Connection>>();
  readonly groups = new Map<string, Set<Connection>>();
  /** Unfiltered sends to everyone in this turn, not yet written. */
  log: OutboundMessage[] = [];
  /** Connections with private items queued in this turn. */
  private dirty: Connection[] = [];
  private scheduled = false;

  constructor(
    readonly service: Service,
    readonly name: string,
  ) {}

  // ---- membership ------------------------------------------------------------------------

  add(c: Connection): void {
    this.connections.set(c.id, c);
    if (c.userId !== null) getOrAdd(this.users, c.userId).add(c);
    // A connection that arrives mid-turn must not receive what was sent before it existed.
    c.logMark = this.log.length;
    this.service.stats.connections++;
  }

  /** Forgets a connection for good; reports `disconnected` upstream. */
  remove(c: Connection, reason: string): void {
    if (this.connections.get(c.id) !== c) return;
    this.connections.delete(c.id);
    if (c.userId !== null) removeFrom(this.users, c.userId, c);
    if (c.groupSet !== null) for (const g of c.groupSet) removeFrom(this.groups, g, c);
    c.groupSet = null;
    this.service.stats.connections--;
    this.service.config.logger.info("disconnected", {
      hub: this.name,
      connectionId: c.id,
      userId: c.userId,
      reason,
    });
    this.service.upstream.disconnected(this.name, c, reason);
  }

  join(c: Connection, group: string): void {
    const set = (c.groupSet ??= new Set());
    if (set.has(group)) return;
    set.add(group);
    getOrAdd(this.groups, group).add(c);
  }

  leave(c: Connection, group: string): void {
    if (c.groupSet === null || !c.groupSet.delete(group)) return;
    if (c.groupSet.size === 0) c.groupSet = null;
    removeFrom(this.groups, group, c);
  }

  leaveAll(c: Connection): void {
    if (c.groupSet === null) return;
    for (const g of c.groupSet) removeFrom(this.groups, g, c);
    c.groupSet = null;
  }

  // ---- sending ---------------------------------------------------------------------------

  sendToAll(message: OutboundMessage, excluded?: ReadonlySet<string>, filter?: FilterPredicate): void {
    if (this.connections.size === 0) return;
    if ((excluded === undefined || excluded.size === 0) && filter === undefined) {
      this.log.push(message);
      this.schedule();
      return;
    }
    for (const c of this.connections.values()) {
      if (excluded?.has(c.id) || (filter !== undefined && !filter(c))) continue;
      c.enqueue(message);
    }
  }

  sendToUser(userId: string, message: OutboundMessage, filter?: FilterPredicate): void {
    const set = this.users.get(userId);
    if (set === undefined) return;
    for (const c of set) if (filter === undefined || filter(c)) c.enqueue(message);
  }

  sendToConnection(connectionId: string, message: OutboundMessage): void {
    this.connections.get(connectionId)?.enqueue(message);
  }

  sendToGroup(
    group: string,
    message: OutboundMessage,
    options: { excluded?: ReadonlySet<string>; filter?: FilterPredicate; sender?: Connection } = {},
  ): void {
    const set = this.groups.get(group);
    if (set === undefined) return;
    const { excluded, filter, sender } = options;
    for (const c of set) {
      if (c === sender || excluded?.has(c.id) || (filter !== undefined && !filter(c))) continue;
      c.enqueue(message);
    }
  }

  /** Connections matching a filter (all when there is none), as a stable array. */
  select(filter: FilterPredicate | undefined, excluded?: ReadonlySet<string>): Connection[] {
    const out: Connection[] = [];
    for (const c of this.connections.values()) {
      if (excluded?.has(c.id) || (filter !== undefined && !filter(c))) continue;
      out.push(c);
    }
    return out;
  }

  closeConnections(connections: Iterable<Connection>, reason: string, excluded?: ReadonlySet<string>): void {
    for (const c of [...connections]) if (!excluded?.has(c.id)) c.close(CLOSE_NORMAL, reason);
  }

  // ---- flushing --------------------------------------------------------------------------

  /** Called by a connection when its private queue gets its first item in this turn. */
  markDirty(c: Connection): void {
    this.dirty.push(c);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.service.scheduleFlush(this);
  }

  /** Writes everything queued in this turn. */
  flush(): void {
    this.scheduled = false;
    const log = this.log;
    const dirty = this.dirty;
    this.log = [];
    this.dirty = [];
    if (log.length === 0) {
      for (const c of dirty) if (c.pending !== null) c.flush(NO_LOG);
      return;
    }
    let plain: Buffer | undefined;
    let json: Buffer | undefined;
    let reliable: Map<number, Buffer> | undefined;
    for (const c of this.connections.values()) {
      if (c.pending !== null || c.logMark !== 0 || c.socket === null) {
        c.flush(log);
      } else if (c.kind === RELIABLE) {
        c.writeReliableLog(log, (reliable ??= new Map()));
      } else if (c.kind === PLAIN) {
        c.writeShared((plain ??= concatFrames(log, PLAIN)), log.length);
      } else {
        c.writeShared((json ??= concatFrames(log, JSON_KIND)), log.length);
      }
    }
  }
}

function concatFrames(log: readonly OutboundMessage[], kind: typeof PLAIN | typeof JSON_KIND): Buffer {
  if (log.length === 1) return kind === PLAIN ? log[0]!.plainFrame() : log[0]!.jsonFrame();
  return Buffer.concat(log.map((m) => (kind === PLAIN ? m.plainFrame() : m.jsonFrame())));
}

function getOrAdd<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
