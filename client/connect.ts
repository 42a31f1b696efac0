/**
 * `connect()`: negotiate, pick a transport (the remembered one first, then in order), fall back when
 * one fails to open or to prove itself, reconnect with jittered backoff, negotiate again before the
 * tokens expire, pause while offline, and pass every frame through one `Sequencer` so the application
 * sees each notification once, in order per stream, whatever transport brought it.
 */
import { encodeCursor, parseCursor, tryParseCursor, type NotRecovered } from "../core/cursor.js";
import { HeraldError } from "../core/errors.js";
import type { NegotiateResponse, StreamsResponse, TransportName, PollResponse } from "../core/live.js";
import { streamsOfClient, type Frame } from "../core/streams.js";
import { backoffDelay } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { isFrame } from "./frames.js";
import { asHeraldError, isAuthError, responseError } from "./http.js";
import { Sequencer } from "./sequencer.js";
import { rememberTransport, recalledTransport, transportOrder } from "./choice.js";
import { LongPollingTransport } from "./transports/long-polling.js";
import { SseTransport } from "./transports/sse.js";
import { withQuery, type Transport, type TransportContext } from "./transports/transport.js";
import { WebSocketTransport } from "./transports/websocket.js";
import { CLIENT_EVENTS } from "./types.js";
import type {
  Clock,
  ConnectOptions,
  Environment,
  EventMap,
  Herald,
  HeraldState,
  Notification,
  StorageLike,
} from "./types.js";

const RESERVED: ReadonlySet<string> = new Set(CLIENT_EVENTS);

export const DEFAULT_TRANSPORTS: readonly TransportName[] = ["websocket", "sse", "long-polling"];
/** Frames per gap-fill call, and the most pages one fill reads before yielding. */
const FILL_LIMIT = 500;
const FILL_MAX_PAGES = 20;
/** Negotiate again this long before the tokens expire (or at 80 % of their life when shorter). */
const REFRESH_AHEAD_MS = 60_000;

function defaultClock(): Clock {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    random: () => Math.random(),
  };
}

/** The browser's storage when usable (private modes throw on access). */
function defaultStorage(): StorageLike | undefined {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!storage) return undefined;
    storage.getItem("herald.probe");
    return storage;
  } catch {
    return undefined;
  }
}

interface EventTargetLike {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

/** `navigator.onLine`, `online`/`offline` on window, `visibilitychange` on document, when present. */
function defaultEnvironment(): Environment | undefined {
  const g = globalThis as {
    navigator?: { onLine?: boolean };
    addEventListener?: EventTargetLike["addEventListener"];
    removeEventListener?: EventTargetLike["removeEventListener"];
    document?: EventTargetLike & { visibilityState?: string };
  };
  if (typeof g.addEventListener !== "function" || typeof g.removeEventListener !== "function")
    return undefined;
  const win = g as EventTargetLike;
  const doc = g.document;
  return {
    isOnline: () => g.navigator?.onLine !== false,
    watch(onChange) {
      const online = (): void => onChange("online");
      const offline = (): void => onChange("offline");
      const visibility = (): void => onChange(doc?.visibilityState === "hidden" ? "hidden" : "visible");
      win.addEventListener("online", online);
      win.addEventListener("offline", offline);
      doc?.addEventListener("visibilitychange", visibility);
      return () => {
        win.removeEventListener("online", online);
        win.removeEventListener("offline", offline);
        doc?.removeEventListener("visibilitychange", visibility);
      };
    },
  };
}

/**
 * The clock's functions called unbound: the client stores them in an object, and a browser's
 * `setTimeout` called as that object's method throws "Illegal invocation".
 */
function unbound(clock: Clock): Clock {
  const { now, setTimeout: set, clearTimeout: clear, random } = clock;
  return {
    now: () => now(),
    setTimeout: (fn, ms) => set(fn, ms),
    clearTimeout: (handle) => clear(handle),
    random: () => random(),
  };
}

function publicNotification(frame: Frame): Notification {
  return { id: frame.id, type: frame.type, data: frame.data, ts: frame.ts };
}

function validNegotiate(value: unknown): value is NegotiateResponse {
  const n = value as NegotiateResponse | undefined;
  return (
    typeof n === "object" &&
    n !== null &&
    typeof n.userId === "string" &&
    Array.isArray(n.groups) &&
    Array.isArray(n.transports) &&
    (n.streamsUrl === undefined || typeof n.streamsUrl === "string")
  );
}

class HeraldClient {
  readonly #options: ConnectOptions;
  readonly #gateway: string;
  readonly #order: readonly TransportName[];
  readonly #clock: Clock;
  readonly #storage: StorageLike | undefined;
  readonly #emitter = new Emitter();
  readonly #sequencer: Sequencer;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #openTimeoutMs: number;
  readonly #rememberMs: number;
  readonly #gapHoldMs: number;
  #unwatch: (() => void) | undefined;

  #state: HeraldState = "connecting";
  #transportName: TransportName | undefined;
  #active: Transport | undefined;
  #negotiated: NegotiateResponse | undefined;
  #closed = false;
  #offline = false;
  /** Bumped on every new cycle and on close: callbacks of an older one are ignored. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: unknown;
  #openTimer: unknown;
  #refreshTimer: unknown;
  #gapTimer: unknown;
  #upgradeTimer: unknown;
  #fillTimer: unknown;
  #filling = false;
  #fillAgain = false;
  #fillAll = false;
  #fillAttempt = 0;
  /** The transport that worked last in this session, and until when it goes first. */
  #preferred: { name: TransportName; until: number } | undefined;

  constructor(options: ConnectOptions) {
    if (typeof options?.gateway !== "string" || options.gateway === "") {
      throw new HeraldError("HERALD_INVALID_FIELD", "connect: `gateway` must be the gateway's URL", {
        target: "gateway",
      });
    }
    if (typeof options.token !== "string" && typeof options.token !== "function") {
      throw new HeraldError("HERALD_INVALID_FIELD", "connect: `token` must be a string or a function", {
        target: "token",
      });
    }
    this.#options = options;
    this.#gateway = options.gateway.replace(/\/+$/, "");
    this.#order = transportOrder(options.transports ?? DEFAULT_TRANSPORTS);
    this.#clock = unbound({ ...defaultClock(), ...options.clock });
    this.#storage = options.storage === null ? undefined : (options.storage ?? defaultStorage());
    this.#minMs = options.backoff?.minMs ?? 500;
    this.#maxMs = Math.max(this.#minMs, options.backoff?.maxMs ?? 30_000);
    this.#openTimeoutMs = options.openTimeoutMs ?? 10_000;
    this.#rememberMs = options.rememberMs ?? 600_000;
    this.#gapHoldMs = options.gapHoldMs ?? 300;
    this.#sequencer = new Sequencer(
      {
        deliver: (frame) => {
          const n = publicNotification(frame);
          // A notification typed like one of the client's own events reaches "*" listeners only.
          if (!RESERVED.has(frame.type)) this.#emitter.emit(frame.type, n);
          this.#emitter.emit("*", n);
        },
        lost: (marker) => this.#emitter.emit("not-recovered", { ...marker }),
      },
      {
        dedupSize: options.dedupSize ?? 10_000,
        cursor: options.cursor ? parseCursor(options.cursor, "cursor") : undefined,
      },
    );
    const environment =
      options.environment === null ? undefined : (options.environment ?? defaultEnvironment());
    if (environment) {
      this.#offline = !environment.isOnline();
      this.#unwatch = environment.watch((change) => this.#environmentChanged(change));
    }
    const recalled = recalledTransport(this.#storage, this.#gateway, this.#clock.now());
    if (recalled && this.#order.includes(recalled.name)) this.#preferred = recalled;
    // Start after the caller has attached its listeners.
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#cycle();
    }, 0);
  }

  get state(): HeraldState {
    return this.#state;
  }

  get transport(): TransportName | undefined {
    return this.#transportName;
  }

  get cursor(): string {
    return encodeCursor(this.#sequencer.cursor());
  }

  get userId(): string | undefined {
    return this.#negotiated?.userId;
  }

  on(type: string, fn: (value: never) => void): () => void {
    return this.#emitter.on(type, fn as (value: unknown) => void);
  }

  off(type: string, fn: (...args: never[]) => void): void {
    this.#emitter.off(type, fn as (value: unknown) => void);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation++;
    this.#stopTransport();
    for (const timer of [
      this.#retryTimer,
      this.#refreshTimer,
      this.#gapTimer,
      this.#upgradeTimer,
      this.#fillTimer,
    ]) {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
    this.#retryTimer = this.#refreshTimer = this.#gapTimer = this.#upgradeTimer = this.#fillTimer = undefined;
    this.#unwatch?.();
    this.#setState("closed");
  }

  // --- connection cycle ------------------------------------------------------------------------

  /** One attempt: negotiate, then try the candidate transports in turn until one proves itself. */
  async #cycle(): Promise<void> {
    if (this.#closed || this.#offline) return;
    const generation = ++this.#generation;
    let negotiated: NegotiateResponse;
    try {
      negotiated = await this.#negotiate();
    } catch (err) {
      if (generation !== this.#generation) return;
      const error = asHeraldError(err, "negotiate");
      if (isAuthError(error) && typeof this.#options.token === "string") {
        // A fixed token that the gateway refuses will not get better by retrying.
        this.#emitter.emit("error", error);
        this.close();
        return;
      }
      this.#fail(error);
      return;
    }
    if (generation !== this.#generation) return;
    this.#adopt(negotiated);
    const offered = new Set(negotiated.transports.map((t) => t.name));
    const candidates = this.#candidates().filter((name) => offered.has(name) && this.#supported(name));
    if (candidates.length === 0) {
      this.#emitter.emit(
        "error",
        new HeraldError(
          "HERALD_CONNECT_FAILED",
          `none of the transports ${this.#order.join(", ")} is both offered by the gateway and available here`,
        ),
      );
      this.close();
      return;
    }
    this.#tryTransports(generation, candidates, 0, undefined);
  }

  /** Candidates for a cycle: the remembered or last working transport first while it is fresh. */
  #candidates(): TransportName[] {
    const preferred = this.#preferred;
    if (!preferred || preferred.until <= this.#clock.now()) return [...this.#order];
    return [preferred.name, ...this.#order.filter((name) => name !== preferred.name)];
  }

  #supported(name: TransportName): boolean {
    if (name === "websocket") return this.#webSocket() !== undefined;
    if (name === "sse") return this.#eventSource() !== undefined;
    return true;
  }

  #webSocket(): ConnectOptions["WebSocket"] {
    return this.#options.WebSocket ?? (globalThis as { WebSocket?: ConnectOptions["WebSocket"] }).WebSocket;
  }

  #eventSource(): ConnectOptions["EventSource"] {
    return (
      this.#options.EventSource ?? (globalThis as { EventSource?: ConnectOptions["EventSource"] }).EventSource
    );
  }

  #tryTransports(
    generation: number,
    candidates: TransportName[],
    index: number,
    last: HeraldError | undefined,
  ): void {
    if (generation !== this.#generation || this.#closed) return;
    const name = candidates[index];
    if (name === undefined) {
      this.#fail(
        new HeraldError(
          "HERALD_CONNECT_FAILED",
          `no transport could connect (${candidates.join(", ")})${last ? `; last: ${last.message}` : ""}`,
        ),
      );
      return;
    }
    const negotiated = this.#negotiated!;
    const url = negotiated.transports.find((t) => t.name === name)!.url;
    let ready = false;
    const next = (error: HeraldError | undefined): void => {
      if (generation !== this.#generation) return;
      this.#clearOpenTimer();
      this.#stopTransport();
      this.#tryTransports(generation, candidates, index + 1, error);
    };
    const events: TransportContext["events"] = {
      frames: (frames, trusted) => {
        if (generation === this.#generation) this.#frames(frames, trusted);
      },
      lost: (markers) => {
        if (generation !== this.#generation) return;
        for (const marker of markers) this.#sequencer.lost(marker);
        this.#checkGaps();
      },
      positions: (cursor) => {
        if (generation !== this.#generation) return;
        this.#sequencer.seed(cursor);
        this.#checkGaps();
      },
      ready: () => {
        if (generation !== this.#generation || ready) return;
        ready = true;
        this.#clearOpenTimer();
        this.#connected(name);
      },
      catchUp: () => {
        if (generation === this.#generation) this.#requestFill(true);
      },
      recovering: () => {
        if (generation === this.#generation) this.#setState("reconnecting");
      },
      recovered: () => {
        if (generation === this.#generation) this.#setState("connected");
      },
      closed: (error) => {
        if (generation !== this.#generation) return;
        if (!ready) {
          // Failed to open: this cycle moves on to the next transport.
          next(error);
          return;
        }
        this.#active = undefined;
        this.#transportName = undefined;
        this.#emitter.emit("transport", undefined);
        if (error) this.#emitter.emit("error", error);
        this.#reconnect();
      },
    };
    const transport = this.#makeTransport(name, url, events);
    this.#active = transport;
    this.#openTimer = this.#clock.setTimeout(() => {
      this.#openTimer = undefined;
      if (!ready)
        next(
          new HeraldError("HERALD_CONNECT_FAILED", `${name}: nothing arrived in ${this.#openTimeoutMs} ms`),
        );
    }, this.#openTimeoutMs);
    transport.open();
  }

  #makeTransport(name: TransportName, url: string, events: TransportContext["events"]): Transport {
    const context: TransportContext = {
      negotiated: this.#negotiated!,
      url,
      cursor: () => encodeCursor(this.#sequencer.cursor()),
      clock: this.#clock,
      fetch: this.#fetch(),
      WebSocket: this.#webSocket(),
      EventSource: this.#eventSource(),
      pingIntervalMs: this.#options.pingIntervalMs ?? 20_000,
      pollWaitSeconds: this.#options.pollWaitSeconds ?? 25,
      events,
    };
    if (name === "websocket") return new WebSocketTransport(context);
    if (name === "sse") return new SseTransport(context);
    return new LongPollingTransport(context);
  }

  #connected(name: TransportName): void {
    this.#attempt = 0;
    this.#transportName = name;
    const first = this.#order[0];
    if (name !== first) {
      // A fallback worked: go straight to it for a while (this session and the next page loads).
      this.#preferred ??= { name, until: this.#clock.now() + this.#rememberMs };
      if (this.#preferred.name !== name)
        this.#preferred = { name, until: this.#clock.now() + this.#rememberMs };
      rememberTransport(this.#storage, this.#gateway, this.#preferred);
      this.#scheduleUpgrade();
    } else {
      this.#preferred = undefined;
      rememberTransport(this.#storage, this.#gateway, undefined);
    }
    this.#emitter.emit("transport", name);
    this.#setState("connected");
  }

  /** While on a fallback: try the preferred transport again once the remembered choice expires. */
  #scheduleUpgrade(): void {
    if (this.#upgradeTimer !== undefined) this.#clock.clearTimeout(this.#upgradeTimer);
    const until = this.#preferred?.until ?? this.#clock.now() + this.#rememberMs;
    this.#upgradeTimer = this.#clock.setTimeout(
      () => this.#probeUpgrade(),
      Math.max(1000, until - this.#clock.now()),
    );
  }

  /**
   * Opens a trial connection on the best transport before the current one. If it proves itself, the
   * client switches: a fresh cycle goes to that transport first and resumes from the cursor (nothing
   * lost, repeats dropped by id). If not, the fallback stays remembered for another period.
   */
  #probeUpgrade(): void {
    this.#upgradeTimer = undefined;
    const current = this.#transportName;
    const negotiated = this.#negotiated;
    if (this.#closed || this.#offline || this.#state !== "connected" || !current || !negotiated) return;
    const name = this.#order
      .slice(0, this.#order.indexOf(current))
      .find((n) => this.#supported(n) && negotiated.transports.some((t) => t.name === n));
    const url = negotiated.transports.find((t) => t.name === name)?.url;
    if (!name || !url) return;
    let settled = false;
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      this.#clock.clearTimeout(timeout);
      probe.close();
      if (this.#closed || this.#transportName !== current) return;
      if (ok) {
        this.#preferred = undefined;
        rememberTransport(this.#storage, this.#gateway, undefined);
        this.#stopTransport();
        this.#scheduleCycle(0);
      } else {
        this.#preferred = { name: current, until: this.#clock.now() + this.#rememberMs };
        rememberTransport(this.#storage, this.#gateway, this.#preferred);
        this.#scheduleUpgrade();
      }
    };
    const ignore = (): void => {};
    const probe = this.#makeTransport(name, url, {
      frames: ignore,
      lost: ignore,
      positions: ignore,
      catchUp: ignore,
      recovering: ignore,
      recovered: ignore,
      ready: () => finish(true),
      closed: () => finish(false),
    });
    const timeout = this.#clock.setTimeout(() => finish(false), this.#openTimeoutMs);
    probe.open();
  }

  /** A connection that worked has dropped: reconnect after a backoff. */
  #reconnect(): void {
    this.#stopTransport();
    if (this.#closed) return;
    this.#setState(this.#state === "connecting" ? "connecting" : "reconnecting");
    this.#scheduleCycle(backoffDelay(this.#attempt++, this.#minMs, this.#maxMs, this.#clock.random));
  }

  /** A whole cycle failed: report, back off, try again. */
  #fail(error: HeraldError): void {
    this.#stopTransport();
    if (this.#closed) return;
    this.#emitter.emit("error", error);
    this.#setState(this.#state === "connecting" ? "connecting" : "reconnecting");
    this.#scheduleCycle(backoffDelay(this.#attempt++, this.#minMs, this.#maxMs, this.#clock.random));
  }

  #scheduleCycle(delayMs: number): void {
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#generation++;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#cycle();
    }, delayMs);
  }

  #stopTransport(): void {
    this.#clearOpenTimer();
    const active = this.#active;
    this.#active = undefined;
    active?.close();
    if (this.#transportName !== undefined) {
      this.#transportName = undefined;
      this.#emitter.emit("transport", undefined);
    }
  }

  #clearOpenTimer(): void {
    if (this.#openTimer !== undefined) this.#clock.clearTimeout(this.#openTimer);
    this.#openTimer = undefined;
  }

  #setState(state: HeraldState): void {
    if (this.#state === state || this.#state === "closed") return;
    this.#state = state;
    this.#emitter.emit("state", state);
  }

  #environmentChanged(change: "online" | "offline" | "visible" | "hidden"): void {
    if (this.#closed) return;
    if (change === "offline") {
      // Every attempt would fail: stop until the browser is back online.
      this.#offline = true;
      this.#generation++;
      if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#stopTransport();
      if (this.#state === "connected") this.#setState("reconnecting");
      return;
    }
    if (change === "online") {
      this.#offline = false;
      if (this.#active === undefined) {
        this.#attempt = 0;
        this.#scheduleCycle(0);
      }
      return;
    }
    if (
      change === "visible" &&
      !this.#offline &&
      this.#active === undefined &&
      this.#retryTimer !== undefined
    ) {
      // The user is looking: do not make them wait out a long backoff.
      this.#scheduleCycle(0);
    }
  }

  // --- negotiate and token refresh -------------------------------------------------------------

  #fetch(): NonNullable<ConnectOptions["fetch"]> {
    const f = this.#options.fetch ?? (globalThis as { fetch?: ConnectOptions["fetch"] }).fetch;
    if (!f) throw new HeraldError("HERALD_CONNECT_FAILED", "no fetch in this environment; pass `fetch`");
    // Called unbound: a browser's fetch throws "Illegal invocation" when called as another object's method.
    return (url, init) => f(url, init);
  }

  async #negotiate(): Promise<NegotiateResponse> {
    const token =
      typeof this.#options.token === "function" ? await this.#options.token() : this.#options.token;
    const res = await this.#fetch()(`${this.#gateway}/api/negotiate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw await responseError(res, "negotiate");
    const body = await res.json();
    if (!validNegotiate(body)) throw new HeraldError("HERALD_CONNECT_FAILED", "negotiate: unexpected answer");
    return body;
  }

  /** Takes a negotiate answer: the URLs for what comes next, and a refresh before it expires. */
  #adopt(negotiated: NegotiateResponse): void {
    this.#negotiated = negotiated;
    this.#active?.refresh(negotiated);
    if (this.#refreshTimer !== undefined) this.#clock.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    const expiresAt = Date.parse(negotiated.expiresAt);
    if (!Number.isFinite(expiresAt)) return;
    const life = expiresAt - this.#clock.now();
    const ahead = Math.min(REFRESH_AHEAD_MS, life * 0.2);
    this.#refreshTimer = this.#clock.setTimeout(() => void this.#refresh(), Math.max(1000, life - ahead));
  }

  /** Negotiates again while connected, so polls and gap fills keep working past the token's expiry. */
  async #refresh(): Promise<void> {
    this.#refreshTimer = undefined;
    if (this.#closed) return;
    try {
      this.#adopt(await this.#negotiate());
    } catch (err) {
      if (this.#closed) return;
      this.#emitter.emit("error", asHeraldError(err, "negotiate"));
      this.#refreshTimer = this.#clock.setTimeout(
        () => void this.#refresh(),
        backoffDelay(2, this.#minMs, this.#maxMs, this.#clock.random),
      );
    }
  }

  // --- frames, gaps and gap fill ---------------------------------------------------------------

  #frames(frames: readonly Frame[], trusted: boolean): void {
    this.#sequencer.accept(frames, trusted);
    this.#checkGaps();
  }

  /** A gap may close by itself (frames overtook each other): fill it only if it is still open later. */
  #checkGaps(): void {
    if (this.#gapTimer !== undefined || this.#closed) return;
    if (!this.#sequencer.hasGaps() && !this.#sequencer.hasUnseeded()) return;
    this.#gapTimer = this.#clock.setTimeout(() => {
      this.#gapTimer = undefined;
      if (this.#sequencer.hasGaps() || this.#sequencer.hasUnseeded()) this.#requestFill(false);
    }, this.#gapHoldMs);
  }

  #requestFill(all: boolean): void {
    if (all) this.#fillAll = true;
    if (this.#filling) {
      this.#fillAgain = true;
      return;
    }
    void this.#fill();
  }

  /**
   * Reads what we miss from the gateway: positions for streams we have none for (a poll with `wait=0`
   * answers with the head), and frames after our cursor from the streams endpoint, page by page.
   */
  async #fill(): Promise<void> {
    this.#filling = true;
    try {
      do {
        this.#fillAgain = false;
        const all = this.#fillAll;
        this.#fillAll = false;
        const negotiated = this.#negotiated;
        if (!negotiated || this.#closed) return;
        const streamsUrl = negotiated.streamsUrl;
        if (streamsUrl === undefined) {
          // No gap fill offered (a websocket-only Functions app): say what cannot be read, and go on.
          this.#sequencer.skipGaps("unavailable");
          this.#fillAgain = false;
          break;
        }
        const expected = streamsOfClient(negotiated.userId, negotiated.groups);
        // Long-polling learns positions from its own answers (and a second poll would get 409).
        if (this.#active?.name !== "long-polling" && expected.some((s) => !this.#sequencer.known(s))) {
          await this.#seedFromPoll(negotiated);
        }
        let cursor = this.#sequencer.gapCursor(all);
        const read = [...cursor.keys()];
        for (let page = 0; cursor.size > 0 && page < FILL_MAX_PAGES && !this.#closed; page++) {
          const url = withQuery(this.#negotiated?.streamsUrl ?? streamsUrl, {
            cursor: encodeCursor(cursor),
            limit: String(FILL_LIMIT),
          });
          const res = await this.#fetch()(url);
          if (!res.ok) throw await responseError(res, "gap fill");
          const body = (await res.json()) as StreamsResponse;
          for (const marker of body.notRecovered ?? []) this.#sequencer.lost(marker);
          if (Array.isArray(body.frames)) this.#sequencer.accept(body.frames.filter(isFrame), true, true);
          if (!body.more) break;
          cursor = tryParseCursor(body.cursor) ?? new Map();
          if (page === FILL_MAX_PAGES - 1) this.#fillAgain = true;
        }
        this.#sequencer.filled(read);
      } while (this.#fillAgain && !this.#closed);
      this.#fillAttempt = 0;
    } catch (err) {
      if (this.#closed) return;
      const error = asHeraldError(err, "gap fill");
      this.#emitter.emit("error", error);
      // A rejected token (a restarted gateway with a new key) needs a fresh negotiate first.
      if (isAuthError(error)) void this.#refresh();
      this.#fillAll = true;
      if (this.#fillTimer !== undefined) this.#clock.clearTimeout(this.#fillTimer);
      this.#fillTimer = this.#clock.setTimeout(
        () => {
          this.#fillTimer = undefined;
          this.#requestFill(true);
        },
        backoffDelay(this.#fillAttempt++, this.#minMs, this.#maxMs, this.#clock.random),
      );
    } finally {
      this.#filling = false;
    }
    this.#checkGaps();
  }

  async #seedFromPoll(negotiated: NegotiateResponse): Promise<void> {
    const poll = negotiated.transports.find((t) => t.name === "long-polling");
    if (!poll) return;
    const res = await this.#fetch()(
      withQuery(poll.url, { wait: "0", cursor: encodeCursor(this.#sequencer.cursor()) }),
    );
    if (!res.ok) throw await responseError(res, "gap fill");
    const body = (await res.json()) as PollResponse;
    for (const marker of body.notRecovered ?? []) this.#sequencer.lost(marker);
    if (Array.isArray(body.frames)) this.#sequencer.accept(body.frames.filter(isFrame), true);
    const cursor = typeof body.cursor === "string" ? tryParseCursor(body.cursor) : undefined;
    if (cursor) this.#sequencer.seed(cursor);
  }
}

/**
 * Connects to a Herald gateway and delivers notifications to `on(type, …)` listeners.
 *
 * @example
 * const herald = connect<{ "order.shipped": { orderId: number } }>({
 *   gateway: "https://gw.example.com",
 *   token: () => getAppJwt(),
 * });
 * herald.on("order.shipped", (n) => console.log(n.data.orderId));
 * herald.on("state", (s) => console.log(s));
 */
export function connect<E extends EventMap = Record<string, unknown>>(options: ConnectOptions): Herald<E> {
  return new HeraldClient(options) as unknown as Herald<E>;
}

export type { NotRecovered };
