/**
 * One message store: a queue, a subscription, or the dead-letter subqueue of either. Holds the
 * messages, hands them to consumer links (round robin, or per session), and owns locks, lock
 * expiry, deferral, scheduled activation (queues) and TTL expiry.
 */
import { randomUUID } from "node:crypto";
import { BrokerError, type BrokerErrorCode } from "./errors.js";
import { MessageState, rewriteBare, type StoredMessage } from "./message.js";
import { Deque, MinHeap } from "./structures.js";
import type { TimerHandle, TimerWheel } from "./timers.js";
import type { AmqpValue } from "../amqp/codec.js";

/** A receiver link as the store sees it. */
export interface Consumer {
  readonly receiveAndDelete: boolean;
  readonly linkName: string;
  /** Credit left for new deliveries. */
  credit(): number;
  /** Sends one message; `lockToken`/`lockedUntil` are set in peek-lock mode. */
  deliver(msg: StoredMessage, headerDeliveryCount: number, lockToken?: string, lockedUntil?: number): void;
  /** The broker ends the link: its session lock expired, or its entity was deleted. */
  terminate(code: BrokerErrorCode, message: string): void;
}

/** What a store needs from the entity that owns it (read live, so updates apply at once). */
export interface StoreOwner {
  readonly options: {
    lockDurationMs: number;
    maxDeliveryCount: number;
    deadLetteringOnMessageExpiration: boolean;
    requiresSession: boolean;
  };
  /** Entity path as users write it, e.g. `orders` or `events/Subscriptions/audit`. */
  readonly path: string;
}

/** Journal calls a store makes; the memory-only broker uses no-ops. */
export interface StoreJournal {
  putMessage(store: string, msg: StoredMessage): void;
  updateMessage(store: string, msg: StoredMessage): void;
  removeMessage(store: string, seq: number): void;
  sessionState(store: string, sessionId: string, state: Buffer | undefined): void;
}

export interface StoreHost {
  readonly timers: TimerWheel;
  readonly journal: StoreJournal;
  /** Moves a message (already removed from `from`) to the dead-letter destination of `from`. */
  deadLetter(
    from: MessageStore,
    msg: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    props?: Map<string, AmqpValue | undefined>,
  ): void;
  /** Sends an activated scheduled message on when the owner auto-forwards; false = keep it here. */
  forwardActivated(from: MessageStore, msg: StoredMessage): boolean;
}

class Partition {
  readonly fresh = new Deque<StoredMessage>();
  readonly returned = new MinHeap<StoredMessage>((a, b) => a.seq < b.seq);
  consumers: Consumer[] = [];
  rr = 0;
  available = 0;
  /** Entries of messages that left the available state without being taken (expired, moved). */
  stale = 0;

  reset(): void {
    this.fresh.clear();
    this.returned.clear();
    this.available = 0;
    this.stale = 0;
  }

  /**
   * An available message went away without `take()`: its entry stays until it is skipped. When
   * such entries pile up (messages expiring with nobody receiving), drop them so their bodies can
   * be freed.
   */
  dropped(): void {
    if (++this.stale < 1024 || this.stale < this.available) return;
    const fresh: StoredMessage[] = [];
    for (let m = this.fresh.shift(); m; m = this.fresh.shift())
      if (m.state === MessageState.Available) fresh.push(m);
    for (const m of fresh) this.fresh.push(m);
    const returned: StoredMessage[] = [];
    for (let m = this.returned.pop(); m; m = this.returned.pop())
      if (m.state === MessageState.Available) returned.push(m);
    for (const m of returned) this.returned.push(m);
    this.stale = 0;
  }

  /** Takes the available message with the lowest sequence number. */
  take(): StoredMessage | undefined {
    for (;;) {
      const f = this.fresh.peek();
      if (f && f.state !== MessageState.Available) {
        this.fresh.shift();
        continue;
      }
      const r = this.returned.peek();
      if (r && r.state !== MessageState.Available) {
        this.returned.pop();
        continue;
      }
      if (!f && !r) return undefined;
      if (f && (!r || f.seq <= r.seq)) return this.fresh.shift();
      return this.returned.pop();
    }
  }

  /** Picks the next consumer with credit, round robin. */
  pickConsumer(): Consumer | undefined {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.rr + i) % n;
      const c = this.consumers[idx]!;
      if (c.credit() > 0) {
        this.rr = idx + 1;
        return c;
      }
    }
    return undefined;
  }
}

export class SessionEntry {
  readonly partition = new Partition();
  holder: Consumer | undefined = undefined;
  lockedUntil = 0;
  /** Bumped on every lock so stale timers can tell. */
  lockGeneration = 0;
  state: Buffer | undefined = undefined;
  /** Every message of this session in the store (any state). */
  messageCount = 0;
  readonly locked = new Set<StoredMessage>();
  updatedAt = Date.now();
  timer: TimerHandle | undefined = undefined;
  constructor(readonly id: string) {}
}

interface SessionWaiter {
  consumer: Consumer;
  done: (entry: SessionEntry | undefined) => void;
  timer: TimerHandle | undefined;
}

/** A message handed out by `receiveDeferred`. */
export interface LockedMessage {
  msg: StoredMessage;
  headerDeliveryCount: number;
  lockToken: string | undefined;
}

export class MessageStore {
  readonly messages = new Map<number, StoredMessage>();
  readonly locks = new Map<string, StoredMessage>();
  readonly sessions = new Map<string, SessionEntry>();
  private readonly main = new Partition();
  private readonly ready = new Set<SessionEntry>();
  private waiters: SessionWaiter[] = [];
  private pumping = false;
  /** Set while a message just taken from its partition is removed (it has no entry left). */
  private takenNow = false;
  private lastSeq = -Infinity;
  /** False once a message arrived out of sequence order (dead-letter queues): peek sorts then. */
  private ordered = true;

  lockedCount = 0;
  deferredCount = 0;
  scheduledCount = 0;
  sizeBytes = 0;
  updatedAt = Date.now();
  accessedAt = Date.now();
  /** Set when the entity is deleted: consumers are detached and the store takes no more input. */
  deleted = false;

  constructor(
    private readonly host: StoreHost,
    readonly owner: StoreOwner,
    /** Journal key (lower-case path, `/$deadletterqueue` for the subqueue). */
    readonly key: string,
    readonly isDeadLetter: boolean,
    /** Dead-letter subqueue of this store (undefined for a dead-letter store itself). */
    public deadLetterStore: MessageStore | undefined,
  ) {}

  get path(): string {
    return this.isDeadLetter ? `${this.owner.path}/$DeadLetterQueue` : this.owner.path;
  }

  get sessionful(): boolean {
    return !this.isDeadLetter && this.owner.options.requiresSession;
  }

  get availableCount(): number {
    let n = this.main.available;
    for (const s of this.sessions.values()) n += s.partition.available;
    return n;
  }

  get activeCount(): number {
    return this.messages.size - this.deferredCount - this.scheduledCount;
  }

  private get lockDuration(): number {
    return this.owner.options.lockDurationMs;
  }

  // -------------------------------------------------------------------------------------------
  // Ingress

  /** Adds a message (state Available or Scheduled, seq and times set) and journals it. */
  add(msg: StoredMessage): void {
    this.insert(msg);
    this.host.journal.putMessage(this.key, msg);
    this.touch();
    this.afterInsert(msg);
  }

  /** Puts a message read back from the journal (replay only; `afterRestore` rebuilds the rest). */
  restoreRaw(msg: StoredMessage): void {
    this.messages.set(msg.seq, msg);
  }

  /** Drops a message during replay. */
  removeRaw(seq: number): void {
    this.messages.delete(seq);
  }

  /** After a replay: rebuilds queues and counters, re-arms timers, returns stale locks. */
  afterRestore(now: number): void {
    const all = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    this.messages.clear();
    this.locks.clear();
    this.ready.clear();
    this.main.reset();
    for (const e of this.sessions.values()) {
      e.partition.reset();
      e.messageCount = 0;
      e.locked.clear();
    }
    this.lockedCount = this.deferredCount = this.scheduledCount = this.sizeBytes = 0;
    this.lastSeq = -Infinity;
    this.ordered = true;
    for (const msg of all) this.insert(msg);
    for (const msg of all) {
      if (msg.state === MessageState.Locked) {
        // Sessions locks do not survive a restart (the session receiver is gone): return at once.
        if (this.sessionful || msg.lockedUntil <= now) this.unlock(msg, true);
        else {
          const token = msg.lockToken;
          msg.lockTimer = this.host.timers.at(msg.lockedUntil, () => this.onLockTimer(msg, token));
        }
      } else if (msg.state === MessageState.Scheduled) {
        msg.timer = this.host.timers.at(msg.scheduledAt, () => this.activate(msg));
      }
      const live = msg.state === MessageState.Available || msg.state === MessageState.Locked;
      if (live && msg.expiresAt !== Infinity && !this.isDeadLetter) {
        msg.timer = this.host.timers.at(msg.expiresAt, () => this.onExpiryTimer(msg));
      }
    }
    for (const e of [...this.sessions.values()]) {
      this.markReady(e);
      this.gcSession(e);
    }
  }

  private insert(msg: StoredMessage): void {
    if (msg.seq <= this.lastSeq) this.ordered = false;
    else this.lastSeq = msg.seq;
    this.messages.set(msg.seq, msg);
    this.sizeBytes += msg.size;
    const entry = this.sessionful ? this.sessionEntry(msg.sessionId ?? "") : undefined;
    if (entry) {
      entry.messageCount++;
      entry.updatedAt = Date.now();
    }
    this.count(msg, entry, 1);
    if (msg.state === MessageState.Available) (entry ? entry.partition : this.main).fresh.push(msg);
    else if (msg.state === MessageState.Locked) {
      if (msg.lockToken) this.locks.set(msg.lockToken, msg);
      entry?.locked.add(msg);
    }
  }

  /** Adjusts the per-state counters for `msg` (its current state) by `d`. */
  private count(msg: StoredMessage, entry: SessionEntry | undefined, d: number): void {
    switch (msg.state) {
      case MessageState.Available:
        (entry ? entry.partition : this.main).available += d;
        break;
      case MessageState.Locked:
        this.lockedCount += d;
        break;
      case MessageState.Deferred:
        this.deferredCount += d;
        break;
      case MessageState.Scheduled:
        this.scheduledCount += d;
        break;
    }
  }

  /** Moves a stored message to another state, keeping the counters right. */
  private setState(msg: StoredMessage, next: MessageState): void {
    const entry = this.sessionful ? this.sessions.get(msg.sessionId ?? "") : undefined;
    this.count(msg, entry, -1);
    msg.state = next;
    this.count(msg, entry, 1);
  }

  private afterInsert(msg: StoredMessage): void {
    if (msg.state === MessageState.Scheduled) {
      msg.timer = this.host.timers.at(msg.scheduledAt, () => this.activate(msg));
      return;
    }
    if (msg.state !== MessageState.Available) return;
    if (msg.expiresAt !== Infinity && !this.isDeadLetter) {
      msg.timer = this.host.timers.at(msg.expiresAt, () => this.onExpiryTimer(msg));
    }
    this.offer(msg);
  }

  /** Makes an available message reachable: pump its partition or mark its session ready. */
  private offer(msg: StoredMessage): void {
    if (!this.sessionful) {
      this.pump(this.main);
      return;
    }
    const entry = this.sessions.get(msg.sessionId ?? "");
    if (!entry) return;
    if (entry.holder) this.pump(entry.partition);
    else this.markReady(entry);
  }

  private sessionEntry(id: string): SessionEntry {
    let e = this.sessions.get(id);
    if (!e) {
      e = new SessionEntry(id);
      this.sessions.set(id, e);
    }
    return e;
  }

  private touch(): void {
    this.updatedAt = Date.now();
  }

  // -------------------------------------------------------------------------------------------
  // Consumers and delivery

  attachConsumer(c: Consumer): void {
    this.main.consumers.push(c);
    this.accessedAt = Date.now();
  }

  detachConsumer(c: Consumer): void {
    const i = this.main.consumers.indexOf(c);
    if (i >= 0) this.main.consumers.splice(i, 1);
    this.cancelWait(c);
    for (const entry of this.sessions.values()) {
      if (entry.holder === c) this.releaseSession(entry);
    }
  }

  /** The consumer may have gained credit: deliver what it can take. */
  onCredit(c: Consumer, session: SessionEntry | undefined): void {
    if (session) {
      if (session.holder === c) this.pump(session.partition);
    } else this.pump(this.main);
  }

  private pump(p: Partition): void {
    if (this.pumping || this.deleted) return;
    this.pumping = true;
    try {
      const now = Date.now();
      // Fill one link's credit before moving to the next (as Service Bus does): a receiver asking
      // for a batch gets it at once instead of sharing every message round robin.
      let c: Consumer | undefined;
      while (p.available > 0 && p.consumers.length > 0) {
        if (!c || c.credit() <= 0) c = p.pickConsumer();
        if (!c) break;
        const msg = p.take();
        if (!msg) break;
        if (msg.expiresAt <= now && !this.isDeadLetter) {
          this.takenNow = true;
          try {
            this.expire(msg);
          } finally {
            this.takenNow = false;
          }
          continue;
        }
        this.deliverTo(c, msg, now);
      }
    } finally {
      this.pumping = false;
    }
  }

  private deliverTo(c: Consumer, msg: StoredMessage, now: number): void {
    const headerCount = msg.deliveryCount;
    msg.deliveryCount++;
    this.accessedAt = now;
    if (c.receiveAndDelete) {
      this.takenNow = true;
      try {
        this.removeMessage(msg);
      } finally {
        this.takenNow = false;
      }
      c.deliver(msg, headerCount);
      return;
    }
    const token = this.lock(msg, c, now);
    c.deliver(msg, headerCount, token, msg.lockedUntil);
  }

  /** Locks a message that just left the available state (or deferral). Returns the token. */
  private lock(msg: StoredMessage, holder: Consumer | undefined, now: number): string {
    const token = randomUUID();
    this.setState(msg, MessageState.Locked);
    msg.lockToken = token;
    msg.holder = holder;
    this.locks.set(token, msg);
    if (this.sessionful) {
      const entry = this.sessions.get(msg.sessionId ?? "");
      msg.lockedUntil = entry?.lockedUntil ?? now + this.lockDuration;
      entry?.locked.add(msg);
    } else {
      msg.lockedUntil = now + this.lockDuration;
      msg.lockTimer = this.host.timers.at(msg.lockedUntil, () => this.onLockTimer(msg, token));
    }
    this.host.journal.updateMessage(this.key, msg);
    return token;
  }

  private onLockTimer(msg: StoredMessage, token: string | undefined): void {
    if (msg.state !== MessageState.Locked || msg.lockToken !== token) return;
    if (msg.lockedUntil > Date.now()) {
      msg.lockTimer = this.host.timers.at(msg.lockedUntil, () => this.onLockTimer(msg, token));
      return;
    }
    this.unlock(msg, true);
  }

  /**
   * Ends a lock. With `returnIt`, the message goes back (deferred ones stay deferred) unless it
   * has used up its delivery count or expired; otherwise the caller decides what happens next.
   */
  private unlock(msg: StoredMessage, returnIt: boolean): void {
    this.host.timers.cancel(msg.lockTimer);
    msg.lockTimer = undefined;
    if (msg.lockToken) this.locks.delete(msg.lockToken);
    msg.lockToken = undefined;
    msg.holder = undefined;
    msg.lockedUntil = 0;
    if (this.sessionful) this.sessions.get(msg.sessionId ?? "")?.locked.delete(msg);
    if (!returnIt) return;
    const now = Date.now();
    if (!this.isDeadLetter && msg.deliveryCount >= this.owner.options.maxDeliveryCount) {
      this.deadLetterMessage(
        msg,
        "MaxDeliveryCountExceeded",
        `Message could not be consumed after ${this.owner.options.maxDeliveryCount} delivery attempts.`,
      );
      return;
    }
    if (msg.fromDeferred) {
      this.setState(msg, MessageState.Deferred);
      this.host.journal.updateMessage(this.key, msg);
      return;
    }
    if (!this.isDeadLetter && msg.expiresAt <= now) {
      this.expire(msg);
      return;
    }
    this.makeAvailable(msg);
  }

  private makeAvailable(msg: StoredMessage): void {
    this.setState(msg, MessageState.Available);
    const entry = this.sessionful ? this.sessions.get(msg.sessionId ?? "") : undefined;
    (entry ? entry.partition : this.main).returned.push(msg);
    this.host.journal.updateMessage(this.key, msg);
    this.offer(msg);
  }

  // -------------------------------------------------------------------------------------------
  // Settlement

  /** The locked message for `token`, or the right lock-lost error. */
  private checkLock(token: string, via: Consumer | undefined): StoredMessage {
    const msg = this.locks.get(token);
    const now = Date.now();
    if (this.sessionful) {
      const entry = msg ? this.sessions.get(msg.sessionId ?? "") : undefined;
      if (
        !msg ||
        !entry ||
        !entry.holder ||
        entry.lockedUntil <= now ||
        (via !== undefined && entry.holder !== via)
      ) {
        throw new BrokerError(
          "SessionLockLost",
          "The session lock has expired on the MessageSession. Accept a new MessageSession.",
        );
      }
      return msg;
    }
    if (!msg || msg.state !== MessageState.Locked) {
      throw new BrokerError(
        "MessageLockLost",
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
      );
    }
    if (msg.lockedUntil <= now) {
      this.unlock(msg, true);
      throw new BrokerError(
        "MessageLockLost",
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
      );
    }
    return msg;
  }

  complete(token: string, via?: Consumer): void {
    const msg = this.checkLock(token, via);
    this.removeMessage(msg);
  }

  abandon(token: string, props?: Map<string, AmqpValue | undefined>, via?: Consumer): void {
    const msg = this.checkLock(token, via);
    this.applyProps(msg, props);
    this.unlock(msg, true);
  }

  /**
   * Gives a locked message back without counting its delivery (AMQP `released`: the client did
   * not process it, or never saw it). It is available again at once.
   */
  release(token: string, via?: Consumer): void {
    const msg = this.checkLock(token, via);
    if (msg.deliveryCount > 0) msg.deliveryCount--;
    this.unlock(msg, true);
  }

  defer(token: string, props?: Map<string, AmqpValue | undefined>, via?: Consumer): void {
    const msg = this.checkLock(token, via);
    this.applyProps(msg, props);
    this.unlock(msg, false);
    this.setState(msg, MessageState.Deferred);
    msg.fromDeferred = true;
    this.host.journal.updateMessage(this.key, msg);
  }

  deadLetter(
    token: string,
    reason: string | undefined,
    description: string | undefined,
    props?: Map<string, AmqpValue | undefined>,
    via?: Consumer,
  ): void {
    const msg = this.checkLock(token, via);
    this.unlock(msg, false);
    this.deadLetterMessage(msg, reason, description, props);
  }

  /** Extends a message lock; returns the new expiry. */
  renewLock(token: string, via?: Consumer): number {
    const msg = this.checkLock(token, via);
    if (this.sessionful) return msg.lockedUntil;
    msg.lockedUntil = Date.now() + this.lockDuration;
    this.host.journal.updateMessage(this.key, msg);
    return msg.lockedUntil;
  }

  private applyProps(msg: StoredMessage, props: Map<string, AmqpValue | undefined> | undefined): void {
    if (!props || props.size === 0) return;
    this.sizeBytes -= msg.size;
    msg.bare = rewriteBare(msg.bare, { set: props });
    this.sizeBytes += msg.size;
    this.host.journal.putMessage(this.key, msg);
  }

  /** Removes a message for good (completed, received-and-deleted, expired, moved). */
  removeMessage(msg: StoredMessage): void {
    this.detach(msg);
    this.host.journal.removeMessage(this.key, msg.seq);
    this.touch();
  }

  /** Drops a message from every structure and counter, without journaling. */
  private detach(msg: StoredMessage): void {
    if (this.messages.get(msg.seq) !== msg) return;
    this.messages.delete(msg.seq);
    this.sizeBytes -= msg.size;
    const entry = this.sessionful ? this.sessions.get(msg.sessionId ?? "") : undefined;
    this.count(msg, entry, -1);
    const wasAvailable = msg.state === MessageState.Available;
    if (msg.state === MessageState.Locked) {
      if (msg.lockToken) this.locks.delete(msg.lockToken);
      entry?.locked.delete(msg);
    }
    msg.state = MessageState.Removed;
    msg.lockToken = undefined;
    msg.holder = undefined;
    this.host.timers.cancel(msg.lockTimer);
    this.host.timers.cancel(msg.timer);
    msg.lockTimer = msg.timer = undefined;
    if (wasAvailable && !this.takenNow) (entry ? entry.partition : this.main).dropped();
    if (entry) {
      entry.messageCount--;
      entry.updatedAt = Date.now();
      this.gcSession(entry);
    }
  }

  private deadLetterMessage(
    msg: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    props?: Map<string, AmqpValue | undefined>,
  ): void {
    this.removeMessage(msg);
    this.host.deadLetter(this, msg, reason, description, props);
  }

  private expire(msg: StoredMessage): void {
    if (this.owner.options.deadLetteringOnMessageExpiration && !this.isDeadLetter) {
      this.deadLetterMessage(msg, "TTLExpiredException", "The message expired and was dead lettered.");
    } else {
      this.removeMessage(msg);
    }
  }

  private onExpiryTimer(msg: StoredMessage): void {
    if (msg.state !== MessageState.Available || msg.expiresAt > Date.now()) return;
    if (this.messages.get(msg.seq) !== msg) return;
    this.expire(msg);
  }

  // -------------------------------------------------------------------------------------------
  // Scheduled messages (queues)

  private activate(msg: StoredMessage): void {
    if (msg.state !== MessageState.Scheduled || this.messages.get(msg.seq) !== msg || this.deleted) return;
    const now = Date.now();
    msg.enqueuedAt = now;
    msg.expiresAt = msg.ttl > 0 ? now + msg.ttl : Infinity;
    if (this.host.forwardActivated(this, msg)) {
      this.removeMessage(msg);
      return;
    }
    if (msg.expiresAt !== Infinity)
      msg.timer = this.host.timers.at(msg.expiresAt, () => this.onExpiryTimer(msg));
    this.makeAvailable(msg);
  }

  /** Cancels a scheduled message; false when there is none with that number. */
  cancelScheduled(seq: number): boolean {
    const msg = this.messages.get(seq);
    if (!msg || msg.state !== MessageState.Scheduled) return false;
    this.removeMessage(msg);
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Peek and deferred

  /** Messages from `fromSeq` on, in sequence order (any state), at most `count`. */
  peek(fromSeq: number, count: number, sessionId?: string): StoredMessage[] {
    this.accessedAt = Date.now();
    const out: StoredMessage[] = [];
    const match = (m: StoredMessage): boolean =>
      m.seq >= fromSeq && (sessionId === undefined || m.sessionId === sessionId);
    if (this.ordered) {
      for (const m of this.messages.values()) {
        if (match(m)) {
          out.push(m);
          if (out.length >= count) break;
        }
      }
      return out;
    }
    for (const m of this.messages.values()) if (match(m)) out.push(m);
    out.sort((a, b) => a.seq - b.seq);
    return out.slice(0, count);
  }

  /** Locks (or removes, in receive-and-delete) deferred messages by sequence number. */
  receiveDeferred(
    seqs: number[],
    receiveAndDelete: boolean,
    sessionId: string | undefined,
    linkName: string | undefined,
  ): LockedMessage[] {
    const now = Date.now();
    const found: StoredMessage[] = [];
    for (const seq of seqs) {
      const msg = this.messages.get(seq);
      if (
        !msg ||
        msg.state !== MessageState.Deferred ||
        (this.sessionful && sessionId !== undefined && msg.sessionId !== sessionId)
      ) {
        throw new BrokerError(
          "MessageNotFound",
          `Failed to lock one or more specified messages. The message with sequence number ${seq} was not found or is not deferred.`,
        );
      }
      found.push(msg);
    }
    if (this.sessionful) {
      const entry = this.sessions.get(sessionId ?? "");
      if (!entry || !entry.holder || (linkName !== undefined && entry.holder.linkName !== linkName)) {
        throw new BrokerError("SessionLockLost", "The session lock was lost. Accept the session again.");
      }
    }
    return found.map((msg) => {
      const headerDeliveryCount = msg.deliveryCount;
      msg.deliveryCount++;
      if (receiveAndDelete) {
        this.removeMessage(msg);
        return { msg, headerDeliveryCount, lockToken: undefined };
      }
      const lockToken = this.lock(msg, undefined, now);
      return { msg, headerDeliveryCount, lockToken };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  private markReady(entry: SessionEntry): void {
    if (entry.holder || entry.partition.available === 0) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.host.timers.cancel(waiter.timer);
      this.lockSession(entry, waiter.consumer);
      waiter.done(entry);
      return;
    }
    this.ready.add(entry);
  }

  private lockSession(entry: SessionEntry, c: Consumer): void {
    this.ready.delete(entry);
    entry.holder = c;
    entry.partition.consumers = [c];
    entry.lockedUntil = Date.now() + this.lockDuration;
    entry.updatedAt = Date.now();
    const gen = ++entry.lockGeneration;
    this.host.timers.cancel(entry.timer);
    entry.timer = this.host.timers.at(entry.lockedUntil, () => this.onSessionTimer(entry, gen));
    this.accessedAt = Date.now();
  }

  /**
   * Locks a session for `c`: the named one, or the next one with messages. Returns undefined
   * when no session is free right now (the caller may `waitForSession`).
   */
  acceptSession(c: Consumer, sessionId: string | undefined): SessionEntry | undefined {
    if (sessionId !== undefined) {
      const entry = this.sessionEntry(sessionId);
      if (entry.holder) {
        throw new BrokerError(
          "SessionCannotBeLocked",
          `The requested session '${sessionId}' cannot be accepted. It may be locked by another receiver.`,
        );
      }
      this.lockSession(entry, c);
      return entry;
    }
    for (const entry of this.ready) {
      if (!entry.holder && entry.partition.available > 0) {
        this.lockSession(entry, c);
        return entry;
      }
      this.ready.delete(entry);
    }
    return undefined;
  }

  /** Calls `done` with a session as soon as one has messages, or with undefined at `timeoutMs`. */
  waitForSession(c: Consumer, timeoutMs: number, done: (entry: SessionEntry | undefined) => void): void {
    const waiter: SessionWaiter = { consumer: c, done, timer: undefined };
    this.waiters.push(waiter);
    waiter.timer = this.host.timers.at(Date.now() + timeoutMs, () => {
      const i = this.waiters.indexOf(waiter);
      if (i < 0) return;
      this.waiters.splice(i, 1);
      done(undefined);
    });
  }

  cancelWait(c: Consumer): void {
    this.waiters = this.waiters.filter((w) => {
      if (w.consumer !== c) return true;
      this.host.timers.cancel(w.timer);
      return false;
    });
  }

  /** Ends a session lock: unsettled messages go back (counting the delivery). */
  releaseSession(entry: SessionEntry): void {
    if (!entry.holder) return;
    entry.holder = undefined;
    entry.partition.consumers = [];
    entry.lockedUntil = 0;
    entry.lockGeneration++;
    this.host.timers.cancel(entry.timer);
    entry.timer = undefined;
    for (const msg of [...entry.locked]) this.unlock(msg, true);
    entry.updatedAt = Date.now();
    this.markReady(entry);
    this.gcSession(entry);
  }

  private onSessionTimer(entry: SessionEntry, gen: number): void {
    if (entry.lockGeneration !== gen || !entry.holder) return;
    if (entry.lockedUntil > Date.now()) {
      entry.timer = this.host.timers.at(entry.lockedUntil, () => this.onSessionTimer(entry, gen));
      return;
    }
    const holder = entry.holder;
    this.releaseSession(entry);
    holder.terminate(
      "SessionLockLost",
      `The session lock has expired on the session with id ${entry.id}. Accept the session again.`,
    );
  }

  private heldSession(sessionId: string, linkName: string | undefined): SessionEntry {
    const entry = this.sessions.get(sessionId);
    if (
      !entry ||
      !entry.holder ||
      entry.lockedUntil <= Date.now() ||
      (linkName !== undefined && entry.holder.linkName !== linkName)
    ) {
      throw new BrokerError(
        "SessionLockLost",
        `The session lock has expired on the session with id ${sessionId}. Accept the session again.`,
      );
    }
    return entry;
  }

  renewSessionLock(sessionId: string, linkName: string | undefined): number {
    const entry = this.heldSession(sessionId, linkName);
    entry.lockedUntil = Date.now() + this.lockDuration;
    for (const msg of entry.locked) msg.lockedUntil = entry.lockedUntil;
    return entry.lockedUntil;
  }

  getSessionState(sessionId: string, linkName: string | undefined): Buffer | undefined {
    return this.heldSession(sessionId, linkName).state;
  }

  setSessionState(sessionId: string, state: Buffer | undefined, linkName: string | undefined): void {
    const entry = this.heldSession(sessionId, linkName);
    entry.state = state;
    entry.updatedAt = Date.now();
    this.host.journal.sessionState(this.key, sessionId, state);
  }

  /** Restores a session's state from the journal. */
  restoreSessionState(sessionId: string, state: Buffer | undefined): void {
    const entry = this.sessionEntry(sessionId);
    entry.state = state;
    this.gcSession(entry);
  }

  /** Sessions with messages or state, updated at or after `since`. */
  listSessions(since: number): string[] {
    const out: string[] = [];
    for (const e of this.sessions.values()) {
      if ((e.messageCount > 0 || e.state !== undefined) && e.updatedAt >= since) out.push(e.id);
    }
    return out;
  }

  private gcSession(entry: SessionEntry): void {
    if (entry.messageCount === 0 && !entry.holder && entry.state === undefined && entry.locked.size === 0) {
      this.sessions.delete(entry.id);
      this.ready.delete(entry);
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Every consumer currently attached (for detaching them when the entity is deleted). */
  consumers(): Consumer[] {
    const out = new Set<Consumer>(this.main.consumers);
    for (const e of this.sessions.values()) if (e.holder) out.add(e.holder);
    for (const w of this.waiters) out.add(w.consumer);
    return [...out];
  }

  /** Drops every message and consumer (entity deleted). */
  clear(): void {
    this.deleted = true;
    for (const w of this.waiters) {
      this.host.timers.cancel(w.timer);
      w.done(undefined);
    }
    this.waiters = [];
    for (const m of this.messages.values()) {
      this.host.timers.cancel(m.lockTimer);
      this.host.timers.cancel(m.timer);
    }
    for (const e of this.sessions.values()) this.host.timers.cancel(e.timer);
    this.messages.clear();
    this.locks.clear();
    this.sessions.clear();
    this.ready.clear();
    this.main.consumers = [];
  }
}
