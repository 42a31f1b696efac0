import type { Registry } from "prom-client";

/** One cumulative histogram bucket: how many observations were at most `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

/** What `GET /api/stats` answers: cumulative values read from the gateway's metrics registry. */
export interface DashboardStats {
  /** Milliseconds since the epoch when the values were read. */
  time: number;
  /** Open connections held by this gateway, by transport (`sse`, `long-polling`). */
  connections: Record<string, number>;
  /** Counters since the process started. */
  counters: {
    published: number;
    received: number;
    completed: number;
    abandoned: number;
    expired: number;
    duplicates: number;
    /** Dead-lettered by this gateway (invalid notifications), all reasons. */
    deadLettered: number;
  };
  /** Messages now on the subscription's dead-letter queue; null when it cannot be read. */
  deadLetterQueue: number | null;
  /** End-to-end latency (enqueue on Service Bus to push to the sinks), seconds. */
  latency: {
    count: number;
    sum: number;
    buckets: Bucket[];
    p50: number | null;
    p90: number | null;
    p99: number | null;
  };
}

/**
 * The `q` quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket where it
 * falls (as Prometheus' histogram_quantile does). Null with no observations; observations past the
 * last finite bound report that bound.
 */
export function quantile(buckets: readonly Bucket[], q: number): number | null {
  const finite = buckets.filter((b) => Number.isFinite(b.le)).sort((a, b) => a.le - b.le);
  const total = buckets.reduce((max, b) => Math.max(max, b.count), 0);
  if (total === 0 || finite.length === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of finite) {
    if (b.count >= rank) {
      const inBucket = b.count - prevCount;
      return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return finite.at(-1)!.le;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

async function values(registry: Registry, name: string): Promise<MetricValue[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return (await metric.get()).values as MetricValue[];
}

async function total(registry: Registry, name: string): Promise<number> {
  return (await values(registry, name)).reduce((sum, v) => sum + v.value, 0);
}

/** Reads the dashboard's figures from the gateway's registry (the same numbers `/metrics` shows). */
export async function collectStats(
  registry: Registry,
  now = Date.now(),
  transports: readonly string[] = ["sse", "long-polling"],
): Promise<DashboardStats> {
  // Transports without a connection yet have no sample; the dashboard shows them at 0.
  const connections: Record<string, number> = Object.fromEntries(transports.map((t) => [t, 0]));
  for (const v of await values(registry, "herald_connections")) {
    connections[String(v.labels.transport)] = v.value;
  }
  const histogram = await values(registry, "herald_end_to_end_seconds");
  const buckets = histogram
    .filter((v) => v.metricName?.endsWith("_bucket"))
    .map((v) => ({ le: v.labels.le === "+Inf" ? Infinity : Number(v.labels.le), count: v.value }));
  const count = histogram.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
  const sum = histogram.find((v) => v.metricName?.endsWith("_sum"))?.value ?? 0;
  const queue = await values(registry, "herald_dead_letter_messages");
  return {
    time: now,
    connections,
    counters: {
      published: await total(registry, "herald_notifications_published_total"),
      received: await total(registry, "herald_messages_received_total"),
      completed: await total(registry, "herald_messages_completed_total"),
      abandoned: await total(registry, "herald_messages_abandoned_total"),
      expired: await total(registry, "herald_messages_expired_total"),
      duplicates: await total(registry, "herald_messages_duplicate_total"),
      deadLettered: await total(registry, "herald_messages_dead_lettered_total"),
    },
    deadLetterQueue: queue.length > 0 ? queue.reduce((s, v) => s + v.value, 0) : null,
    latency: {
      count,
      sum,
      // JSON has no Infinity: the +Inf bucket equals `count`.
      buckets: buckets.filter((b) => Number.isFinite(b.le)),
      p50: quantile(buckets, 0.5),
      p90: quantile(buckets, 0.9),
      p99: quantile(buckets, 0.99),
    },
  };
}
