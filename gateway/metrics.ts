import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one gateway process (served at `/metrics`). */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly published = this.counter(
    "herald_notifications_published_total",
    "Notifications accepted by POST /api/notifications.",
  );
  readonly received = this.counter(
    "herald_messages_received_total",
    "Service Bus messages received by the consumer.",
  );
  readonly completed = this.counter(
    "herald_messages_completed_total",
    "Messages completed after store and push.",
  );
  readonly abandoned = this.counter(
    "herald_messages_abandoned_total",
    "Messages abandoned after a transient failure.",
  );
  readonly deadLettered = new Counter({
    name: "herald_messages_dead_lettered_total",
    help: "Messages dead-lettered, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly linkLost = this.counter(
    "herald_messages_link_lost_total",
    "Messages whose receive link dropped before they were settled; Service Bus redelivers them when their lock expires.",
  );
  readonly expired = this.counter(
    "herald_messages_expired_total",
    "Messages whose TTL had passed: completed without delivery.",
  );
  readonly duplicates = this.counter(
    "herald_messages_duplicate_total",
    "Redelivered messages already in the store.",
  );
  readonly sinkErrors = new Counter({
    name: "herald_sink_errors_total",
    help: "Failed pushes to a delivery sink.",
    labelNames: ["sink"] as const,
    registers: [this.registry],
  });
  readonly storeAppendSeconds = new Histogram({
    name: "herald_store_append_seconds",
    help: "Time to append one notification to its streams.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly endToEndSeconds = new Histogram({
    name: "herald_end_to_end_seconds",
    help: "Time from enqueue on Service Bus to the push to the sinks.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: "herald_connections",
    help: "Open client connections held by this gateway, by transport.",
    labelNames: ["transport"] as const,
    registers: [this.registry],
  });
  readonly liveFrames = new Counter({
    name: "herald_live_frames_total",
    help: "Frames written to SSE connections or long-poll answers, replayed from the store or live.",
    labelNames: ["transport", "source"] as const,
    registers: [this.registry],
  });
  readonly liveClosed = new Counter({
    name: "herald_live_closed_total",
    help: "Live connections the gateway closed, by transport and reason (slow-consumer, shutdown, ...).",
    labelNames: ["transport", "reason"] as const,
    registers: [this.registry],
  });
  readonly liveRejected = new Counter({
    name: "herald_live_rejected_total",
    help: "Live connections refused, by transport and reason (user-limit, process-limit, conflict, shutdown).",
    labelNames: ["transport", "reason"] as const,
    registers: [this.registry],
  });
  readonly liveNotRecovered = new Counter({
    name: "herald_live_not_recovered_total",
    help: "Resumes whose cursor was older than the store's retention (retention) or unknown to it (reset).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly liveGapFills = this.counter(
    "herald_live_gap_fills_total",
    "Gaps in a connection's live feed filled from the stream store.",
  );
  readonly backplaneMessages = new Counter({
    name: "herald_backplane_messages_total",
    help: "Messages on the delivery topic: published by this replica, received, or received and invalid.",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });

  /** Read on scrape from the subscription's runtime properties; absent until a reader is set. */
  readonly deadLetterQueue: Gauge<"subscription">;
  #deadLetterReader: { subscription: string; read: () => Promise<number> } | undefined;
  #deadLetterCache: { at: number; value: number | undefined } | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.deadLetterQueue = new Gauge({
      name: "herald_dead_letter_messages",
      help: "Messages on the gateway subscription's dead-letter queue (read at most every 5 s).",
      labelNames: ["subscription"] as const,
      registers: [this.registry],
      collect: () => this.#refreshDeadLetters(this.deadLetterQueue),
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Sets how the dead-letter queue depth is read (e.g. `getSubscriptionRuntimeProperties`). A failed
   * read drops the sample rather than reporting a stale or made-up number.
   */
  watchDeadLetterQueue(subscription: string, read: () => Promise<number>): void {
    this.#deadLetterReader = { subscription, read };
    this.#deadLetterCache = undefined;
  }

  async #refreshDeadLetters(gauge: Gauge<"subscription">): Promise<void> {
    const reader = this.#deadLetterReader;
    if (!reader) return;
    // Scrapes and dashboard polls come often; the management call is made at most every 5 s.
    if (!this.#deadLetterCache || Date.now() - this.#deadLetterCache.at > 5000) {
      let value: number | undefined;
      try {
        value = await reader.read();
      } catch {
        value = undefined;
      }
      this.#deadLetterCache = { at: Date.now(), value };
    }
    gauge.reset();
    const value = this.#deadLetterCache.value;
    if (value !== undefined) gauge.set({ subscription: reader.subscription }, value);
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }
}
