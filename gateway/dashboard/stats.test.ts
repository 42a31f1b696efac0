import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { GatewayMetrics } from "../metrics.js";
import { collectStats, quantile } from "./stats.js";

describe("quantile", () => {
  it("interpolates inside the bucket where the rank falls", () => {
    const buckets = [
      { le: 0.01, count: 50 },
      { le: 0.1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(quantile(buckets, 0.5)).toBeCloseTo(0.01);
    expect(quantile(buckets, 0.75)).toBeCloseTo(0.055);
    expect(quantile(buckets, 0.25)).toBeCloseTo(0.005);
  });

  it("is null without observations and caps at the last finite bound", () => {
    expect(quantile([{ le: 1, count: 0 }], 0.5)).toBeNull();
    expect(
      quantile(
        [
          { le: 1, count: 0 },
          { le: Infinity, count: 4 },
        ],
        0.99,
      ),
    ).toBe(1);
  });
});

describe("collectStats", () => {
  it("reads connections, counters, latency and the dead-letter depth from the registry", async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    metrics.connections.set({ transport: "sse" }, 3);
    metrics.connections.set({ transport: "long-polling" }, 1);
    metrics.received.inc(5);
    metrics.completed.inc(4);
    metrics.deadLettered.inc({ reason: "InvalidNotification" });
    metrics.endToEndSeconds.observe(0.004);
    metrics.endToEndSeconds.observe(0.004);
    metrics.watchDeadLetterQueue("gateway", async () => 7);
    const stats = await collectStats(metrics.registry, 1234);
    expect(stats.time).toBe(1234);
    expect(stats.connections).toEqual({ sse: 3, "long-polling": 1 });
    expect(stats.counters).toMatchObject({ received: 5, completed: 4, deadLettered: 1, published: 0 });
    expect(stats.deadLetterQueue).toBe(7);
    expect(stats.latency.count).toBe(2);
    expect(stats.latency.p50).toBeGreaterThan(0.0025);
    expect(stats.latency.p50).toBeLessThanOrEqual(0.005);
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
  });

  it("reports the dead-letter depth as null when it cannot be read", async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    metrics.watchDeadLetterQueue("gateway", async () => {
      throw new Error("no manage rights");
    });
    expect((await collectStats(metrics.registry)).deadLetterQueue).toBeNull();
    const bare = new Registry();
    new Counter({ name: "other_total", help: "x", registers: [bare] });
    new Gauge({ name: "g", help: "x", registers: [bare] });
    new Histogram({ name: "h", help: "x", registers: [bare] });
    const empty = await collectStats(bare);
    expect(empty.latency.p99).toBeNull();
    expect(empty.connections).toEqual({ sse: 0, "long-polling": 0 });
  });
});
