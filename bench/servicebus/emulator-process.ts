/**
 * The emulator side of the benchmark, in its own process: starts an emulator on a free port and
 * answers the parent over IPC (port, heap after a full GC).
 */
import { startServiceBusEmulator } from "../../emulator/servicebus/index.js";

interface Request {
  type: "memory" | "cpu" | "stop";
}

const queues = [
  { name: "bench", options: {} },
  { name: "memory", options: {} },
];
const emulator = await startServiceBusEmulator({
  port: 0,
  managementPort: 0,
  namespace: { name: "sbemulatorns", queues: queues as never, topics: [] },
});
const gc = (globalThis as { gc?: () => void }).gc;
process.send?.({ type: "ready", port: emulator.port, connectionString: emulator.connectionString });
process.on("message", (msg: Request) => {
  if (msg.type === "memory") {
    for (let i = 0; i < 3; i++) gc?.();
    const m = process.memoryUsage();
    process.send?.({
      type: "memory",
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      rss: m.rss,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      gc: gc !== undefined,
    });
  } else if (msg.type === "cpu") {
    const c = process.cpuUsage();
    process.send?.({ type: "cpu", micros: c.user + c.system });
  } else if (msg.type === "stop") {
    void emulator.close().then(() => process.exit(0));
  }
});
