/**
 * Benchmark server process (started by run.ts with --expose-gc). Modes:
 *  - `herald`: startHttpServer(liveRoutes(...)) with a MemoryStreamStore and a LiveHub; a publish is
 *    what the consumer does: append to the store, then push the frames to the hub.
 *  - `bare`: a plain node:http server that keeps every open response and writes one pre-built SSE chunk
 *    to each of them per publish (the floor to compare the hub's SSE path with).
 * The parent drives it over IPC: `mem` (GC, then memory figures), `publish` (one notification),
 * `cpu` (process CPU time), `exit`.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import { createTokenVerifier } from "../../gateway/auth/tokens.js";
import { startHttpServer } from "../../gateway/http/server.js";
import { LiveHub } from "../../gateway/live/hub.js";
import { liveRoutes } from "../../gateway/live/routes.js";
import { GatewayTokens } from "../../gateway/live/tokens.js";
import { createLogger } from "../../gateway/log.js";
import { MemoryStreamStore } from "../../gateway/store/memory.js";

type Command =
  | { cmd: "mem" }
  | { cmd: "publish"; seq: number }
  | { cmd: "cpu" }
  | { cmd: "snap"; file: string }
  | { cmd: "exit" };

const mode = process.argv[2] as "herald" | "bare";
const secret = process.env.BENCH_TOKEN_SECRET ?? "bench-gateway-secret-0123456789abcdef";
const send = (message: unknown): void => void process.send!(message);

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("run with --expose-gc");
  collect();
  collect();
}

/** Monotonic ms shared by every process on the machine (CLOCK_MONOTONIC). */
function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function payload(seq: number): { id: string; data: { seq: number; t: number; note: string } } {
  return {
    id: `bench-${seq}`,
    data: { seq, t: now(), note: "order 1234 shipped to the customer, tracking ABC123" },
  };
}

let publish: (seq: number) => Promise<void>;
let port: number;

if (mode === "herald") {
  const log = createLogger({ level: "silent" });
  const store = new MemoryStreamStore({ sweepIntervalMs: 0 });
  const hub = new LiveHub({
    store,
    log,
    maxConnections: 1_000_000,
    maxConnectionsPerUser: 1_000_000,
  });
  const http = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    log,
    routes: liveRoutes({
      hub,
      tokens: new GatewayTokens({ secret }),
      verifier: createTokenVerifier({ secret }),
    }),
  });
  http.server.maxConnections = 1_000_000;
  port = http.port;
  publish = async (seq) => {
    const p = payload(seq);
    const { frames } = await store.append({ id: p.id, type: "bench.note", data: p.data, ts: Date.now() }, [
      "broadcast",
    ]);
    await hub.push(frames);
  };
} else {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
    });
    res.flushHeaders();
    open.add(res);
    res.on("close", () => open.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 1024, resolve));
  port = (server.address() as AddressInfo).port;
  let offset = 0;
  publish = async (seq) => {
    const p = payload(seq);
    offset++;
    const frame = { id: p.id, type: "bench.note", data: p.data, stream: "broadcast", offset, ts: Date.now() };
    // The same framing as the hub's (id, event, data), built once, the same bytes to every response.
    const chunk = Buffer.from(`id: b~${offset}\nevent: notification\ndata: ${JSON.stringify(frame)}\n\n`);
    for (const res of open) res.write(chunk);
  };
}

process.on("message", (message: Command) => {
  switch (message.cmd) {
    case "mem": {
      gc();
      const m = process.memoryUsage();
      const spaces = Object.fromEntries(
        getHeapSpaceStatistics().map((sp) => [sp.space_name, Math.round(sp.space_size / 1024)]),
      );
      if (process.env.BENCH_DEBUG)
        console.error(
          JSON.stringify({
            rss: m.rss,
            heapTotal: m.heapTotal,
            heapUsed: m.heapUsed,
            external: m.external,
            arrayBuffers: m.arrayBuffers,
            spaces,
          }),
        );
      send({ mem: { rss: m.rss, heapUsed: m.heapUsed, external: m.external } });
      break;
    }
    case "publish":
      void publish(message.seq);
      break;
    case "cpu": {
      const c = process.cpuUsage();
      send({ cpu: c.user + c.system });
      break;
    }
    case "snap":
      gc();
      writeHeapSnapshot(message.file);
      send({ snap: true });
      break;
    case "exit":
      process.exit(0);
  }
});
send({ ready: port });

// Exit with the benchmark driver, whatever ends it.
process.on("disconnect", () => process.exit(0));
