import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { DASHBOARD_HTML, DASHBOARD_SCRIPT, DASHBOARD_SCRIPT_PATH, STATS_PATH } from "./page.js";

/** A stand-in for the few DOM pieces the script touches; records what it writes. */
function fakePage() {
  const elements = new Map<string, Record<string, unknown>>();
  const drawn: string[] = [];
  const context2d = new Proxy(
    {},
    {
      get: (_t, name) =>
        name === "fillText"
          ? (text: string) => drawn.push(text)
          : typeof name === "string" &&
              /^[a-z]/.test(name) &&
              !["font", "fillStyle", "strokeStyle", "lineWidth"].includes(name)
            ? () => undefined
            : undefined,
      set: () => true,
    },
  );
  const element = (id: string): Record<string, unknown> => {
    let el = elements.get(id);
    if (!el) {
      el = {
        id,
        textContent: "",
        children: [] as unknown[],
        style: {},
        clientWidth: 400,
        clientHeight: 160,
        width: 0,
        height: 0,
        getContext: () => context2d,
        replaceChildren(...children: unknown[]) {
          this.children = children;
        },
      };
      elements.set(id, el);
    }
    return el;
  };
  return { elements, drawn, element };
}

describe("dashboard page", () => {
  it("loads its one script from the gateway and nothing else", () => {
    const refs = [...DASHBOARD_HTML.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs).toEqual([DASHBOARD_SCRIPT_PATH]);
    expect(DASHBOARD_HTML).not.toContain("${");
  });

  it("draws what /api/stats answers, putting every value in as text", async () => {
    const page = fakePage();
    const hostile = '<img src=x onerror="alert(1)">';
    const stats = (completed: number, time: number) => ({
      time,
      connections: { sse: 2, [hostile]: 1 },
      counters: { received: completed, completed, published: 0, deadLettered: 1 },
      deadLetterQueue: 3,
      latency: {
        count: completed,
        buckets: [
          { le: 0.01, count: completed },
          { le: 0.1, count: completed },
        ],
        p50: 0.005,
        p99: 0.0099,
      },
    });
    const answers = [stats(10, 1000), stats(30, 2000)];
    const fetched: string[] = [];
    const timers: (() => void)[] = [];
    const context = {
      document: { getElementById: page.element, createElement: () => ({ style: {}, textContent: "" }) },
      window: { devicePixelRatio: 1 },
      fetch: async (url: string) => {
        fetched.push(url);
        const body = answers.shift();
        return { ok: body !== undefined, status: body ? 200 : 503, json: async () => body };
      },
      setTimeout: (fn: () => void) => timers.push(fn),
      Date,
      Math,
      Object,
      Number,
      Error,
      Map,
      Array,
      String,
    };
    runInNewContext(DASHBOARD_SCRIPT, context);
    await new Promise((r) => setImmediate(r));
    timers.shift()!();
    await new Promise((r) => setImmediate(r));

    expect(fetched).toEqual([STATS_PATH, STATS_PATH]);
    const text = (id: string) => page.elements.get(id)?.textContent;
    expect(text("status")).toMatch(/^updated /);
    expect(text("connections-figure")).toBe(`3 open (sse 2, ${hostile} 1)`);
    expect(text("rate-figure")).toBe("20.0 /s completed");
    expect(text("latency-figure")).toMatch(
      /^p50 \d\.\d ms · p99 \d\.\d ms \(since start: p50 5\.0 ms, p99 9\.9 ms\)$/,
    );
    expect(text("dead-figure")).toBe("3 on the queue · 1 dead-lettered by this gateway");
    const legend = page.elements.get("connections-legend")!.children as { textContent: string }[];
    expect(legend.map((l) => l.textContent)).toEqual(["■ sse", `■ ${hostile}`]);
    for (const el of page.elements.values()) expect(el).not.toHaveProperty("innerHTML");
    expect(page.drawn.some((t) => t.includes("last 120 s"))).toBe(true);
    // Count charts put their grid lines on whole numbers (2 connections at most -> 0..4).
    expect(page.drawn).toEqual(expect.arrayContaining(["4", "3", "2", "1", "0"]));

    // A failing poll says so and keeps polling.
    timers.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(text("status")).toBe(`cannot read ${STATS_PATH}: HTTP 503`);
    expect(timers).toHaveLength(1);
  });
});
