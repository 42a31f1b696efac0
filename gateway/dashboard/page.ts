/**
 * The dashboard page: static HTML and one script, no framework. The script is a function here so
 * it is type-checked and linted with the rest; the gateway serves its source text. It reads
 * `GET /api/stats` every second and draws the charts on canvases; every value reaches the page
 * through `textContent` or canvas text, never as HTML.
 */

export const DASHBOARD_PATH = "/dashboard";
export const DASHBOARD_SCRIPT_PATH = "/dashboard/app.js";
export const STATS_PATH = "/api/stats";

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { padding: 12px 20px; background: #1d2330; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  #status { color: #b8c0cc; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 14px; margin: 0 0 4px; color: #4a5568; font-weight: 600; }
  .figure { font-size: 22px; font-weight: 600; margin-bottom: 6px; min-height: 30px; }
  canvas { width: 100%; height: 160px; display: block; }
  .legend span { margin-right: 12px; font-size: 12px; }
  .note { font-size: 12px; color: #718096; margin-top: 4px; }
</style>
</head>
<body>
<header><h1>Herald gateway</h1><span id="status">connecting…</span></header>
<main>
  <section><h2>Open connections by transport</h2><div class="figure" id="connections-figure"></div>
    <canvas id="connections-chart"></canvas><div class="legend" id="connections-legend"></div>
    <div class="note">SSE and long-poll connections held by this gateway; WebSocket clients connect to Web PubSub.</div></section>
  <section><h2>Notifications per second</h2><div class="figure" id="rate-figure"></div>
    <canvas id="rate-chart"></canvas><div class="legend" id="rate-legend"></div></section>
  <section><h2>End-to-end latency (enqueue to push)</h2><div class="figure" id="latency-figure"></div>
    <canvas id="latency-chart"></canvas><div class="legend" id="latency-legend"></div></section>
  <section><h2>Dead letters</h2><div class="figure" id="dead-figure"></div>
    <canvas id="dead-chart"></canvas><div class="legend" id="dead-legend"></div></section>
</main>
<script src="${DASHBOARD_SCRIPT_PATH}"></script>
</body>
</html>
`;

interface Bucket {
  le: number;
  count: number;
}

interface Stats {
  time: number;
  connections: Record<string, number>;
  counters: { received: number; completed: number; published: number; deadLettered: number };
  deadLetterQueue: number | null;
  latency: { count: number; buckets: Bucket[]; p50: number | null; p99: number | null };
}

type Series = { name: string; color: string; points: (number | null)[] };

/**
 * Runs in the browser. Self-contained on purpose: it is serialized with `toString()`, so it may use
 * nothing from this module.
 */
export function dashboardMain(statsUrl: string): void {
  const HISTORY = 120;
  const COLORS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#e53e3e", "#319795"];
  const byId = (id: string): HTMLElement => document.getElementById(id)!;
  let previous: Stats | undefined;
  const history: Stats[] = [];
  const rates: { received: (number | null)[]; completed: (number | null)[] } = {
    received: [],
    completed: [],
  };
  const latency: { p50: (number | null)[]; p99: (number | null)[] } = { p50: [], p99: [] };
  const connections = new Map<string, (number | null)[]>();
  const dead: { queue: (number | null)[]; gateway: (number | null)[] } = { queue: [], gateway: [] };

  const push = (list: (number | null)[], value: number | null): void => {
    list.push(value);
    if (list.length > HISTORY) list.shift();
  };

  // Percentile of the observations between two cumulative snapshots (the last few seconds).
  const windowQuantile = (now: Bucket[], before: Bucket[] | undefined, q: number): number | null => {
    const delta = now.map((b, i) => ({ le: b.le, count: b.count - (before?.[i]?.count ?? 0) }));
    const total = delta.at(-1)?.count ?? 0;
    const all = Math.max(total, ...delta.map((b) => b.count));
    if (all <= 0) return null;
    const rank = q * all;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of delta) {
      if (b.count >= rank) {
        const inBucket = b.count - prevCount;
        return inBucket === 0 ? b.le : prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket;
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return delta.at(-1)?.le ?? null;
  };

  const formatSeconds = (s: number | null): string =>
    s === null ? "–" : s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms` : `${s.toFixed(2)} s`;

  const legend = (id: string, series: Series[]): void => {
    const el = byId(id);
    el.replaceChildren(
      ...series.map((s) => {
        const span = document.createElement("span");
        span.style.color = s.color;
        span.textContent = `■ ${s.name}`;
        return span;
      }),
    );
  };

  const draw = (id: string, series: Series[], format: (v: number) => string, integer = false): void => {
    const canvas = byId(id) as HTMLCanvasElement;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const values = series.flatMap((s) => s.points.filter((p): p is number => p !== null));
    if (values.length === 0 && !integer) {
      ctx.fillStyle = "#718096";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("no data yet", 56, height / 2);
      return;
    }
    // A round top value (1, 2 or 5 × 10^k) so the axis labels are readable.
    const top = Math.max(1e-9, ...values) * 1.05;
    const step = 10 ** Math.floor(Math.log10(top));
    // Counts get a top divisible by 4, so the four grid lines fall on whole numbers.
    const max = integer
      ? 4 * Math.max(1, Math.ceil(top / 4))
      : ([1, 2, 5, 10].map((m) => m * step).find((m) => m >= top) ?? top);
    const left = 56;
    const plotW = width - left - 4;
    const plotH = height - 18;
    ctx.strokeStyle = "#e2e8f0";
    ctx.fillStyle = "#718096";
    ctx.font = "11px system-ui, sans-serif";
    for (let i = 0; i <= 4; i++) {
      const y = 4 + (plotH * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(width, y);
      ctx.stroke();
      ctx.fillText(format((max * (4 - i)) / 4), 2, y + 4);
    }
    ctx.fillText(`last ${HISTORY} s`, left, height - 2);
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      let pen = false;
      s.points.forEach((p, i) => {
        if (p === null) {
          pen = false;
          return;
        }
        const x = left + (plotW * (i + HISTORY - s.points.length)) / (HISTORY - 1);
        const y = 4 + plotH - (plotH * p) / max;
        if (pen) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        pen = true;
      });
      ctx.stroke();
    }
  };

  const count = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

  const update = (stats: Stats): void => {
    const seconds = previous ? Math.max(0.001, (stats.time - previous.time) / 1000) : 0;
    const rate = (now: number, before: number | undefined): number | null =>
      previous && before !== undefined ? Math.max(0, now - before) / seconds : null;
    push(rates.received, rate(stats.counters.received, previous?.counters.received));
    push(rates.completed, rate(stats.counters.completed, previous?.counters.completed));
    history.push(stats);
    if (history.length > 6) history.shift();
    // Percentiles over the last ~5 s, so a quiet second does not blank the chart.
    const base = history.length > 1 ? history[0]!.latency.buckets : undefined;
    push(latency.p50, windowQuantile(stats.latency.buckets, base, 0.5));
    push(latency.p99, windowQuantile(stats.latency.buckets, base, 0.99));
    for (const name of Object.keys(stats.connections)) {
      if (!connections.has(name))
        connections.set(name, new Array<number | null>(rates.received.length - 1).fill(null));
    }
    for (const [name, list] of connections) push(list, stats.connections[name] ?? 0);
    push(dead.queue, stats.deadLetterQueue);
    push(dead.gateway, stats.counters.deadLettered);
    previous = stats;

    const connectionSeries = [...connections].map(([name, points], i) => ({
      name,
      color: COLORS[i % COLORS.length]!,
      points,
    }));
    const total = Object.values(stats.connections).reduce((a, b) => a + b, 0);
    byId("connections-figure").textContent =
      `${total} open` +
      (connectionSeries.length
        ? ` (${connectionSeries.map((s) => `${s.name} ${stats.connections[s.name] ?? 0}`).join(", ")})`
        : "");
    legend("connections-legend", connectionSeries);
    draw("connections-chart", connectionSeries, (v) => v.toFixed(0), true);

    const rateSeries = [
      { name: "received", color: COLORS[0]!, points: rates.received },
      { name: "completed", color: COLORS[2]!, points: rates.completed },
    ];
    const last = rates.completed.at(-1);
    byId("rate-figure").textContent =
      last === null || last === undefined ? "–" : `${count(last)} /s completed`;
    legend("rate-legend", rateSeries);
    draw("rate-chart", rateSeries, count);

    const latencySeries = [
      { name: "p50", color: COLORS[0]!, points: latency.p50 },
      { name: "p99", color: COLORS[1]!, points: latency.p99 },
    ];
    byId("latency-figure").textContent =
      `p50 ${formatSeconds(latency.p50.at(-1) ?? null)} · p99 ${formatSeconds(latency.p99.at(-1) ?? null)}` +
      ` (since start: p50 ${formatSeconds(stats.latency.p50)}, p99 ${formatSeconds(stats.latency.p99)})`;
    legend("latency-legend", latencySeries);
    draw("latency-chart", latencySeries, (v) => formatSeconds(v));

    const deadSeries = [
      { name: "on the dead-letter queue", color: COLORS[4]!, points: dead.queue },
      { name: "dead-lettered by this gateway", color: COLORS[3]!, points: dead.gateway },
    ];
    byId("dead-figure").textContent =
      `${stats.deadLetterQueue === null ? "queue depth unknown" : `${stats.deadLetterQueue} on the queue`}` +
      ` · ${stats.counters.deadLettered} dead-lettered by this gateway`;
    legend("dead-legend", deadSeries);
    draw("dead-chart", deadSeries, (v) => v.toFixed(0), true);
  };

  const status = byId("status");
  const tick = async (): Promise<void> => {
    try {
      const res = await fetch(statsUrl, { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      update((await res.json()) as Stats);
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      status.textContent = `cannot read ${statsUrl}: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      setTimeout(() => void tick(), 1000);
    }
  };
  void tick();
}

/** The script the page loads. */
export const DASHBOARD_SCRIPT = `"use strict";\n(${dashboardMain.toString()})(${JSON.stringify(STATS_PATH)});\n`;
