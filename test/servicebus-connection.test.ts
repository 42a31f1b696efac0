import rhea from "rhea";
import type { Connection, ConnectionOptions, EventContext } from "rhea";
import { describe, expect, it } from "vitest";
import { queue, sleep, startBus, useCleanup } from "./helpers/servicebus.js";

/** Opens a raw AMQP connection; resolves once the server's open frame arrived. */
function open(options: ConnectionOptions): Promise<{ connection: Connection; closedEarly: () => boolean }> {
  const container = rhea.create_container();
  container.on("error", () => {});
  return new Promise((resolve, reject) => {
    let closed = false;
    const connection = container.connect({ reconnect: false, ...options });
    connection.on("disconnected", (ctx: EventContext) => {
      closed = true;
      reject(ctx.error ?? new Error("disconnected"));
    });
    connection.on("connection_error", () => {
      closed = true;
    });
    connection.once("connection_open", () => resolve({ connection, closedEarly: () => closed }));
  });
}

describe("Service Bus emulator: connections", () => {
  const register = useCleanup();

  it("listens on both 127.0.0.1 and ::1 for localhost, and only on loopback", async () => {
    const { emulator } = await startBus(register, { queues: [queue("q")] });
    for (const host of ["127.0.0.1", "::1"]) {
      const { connection } = await open({ host, port: emulator.port });
      expect(connection.is_open()).toBe(true);
      register({ close: async () => connection.close() });
    }
  });

  it("offers SASL ANONYMOUS and MSSBCBS, and also takes connections without SASL", async () => {
    const { emulator } = await startBus(register, { queues: [queue("q")] });
    const anonymous = await open({
      host: "127.0.0.1",
      port: emulator.port,
      username: "RootManageSharedAccessKey",
    } as ConnectionOptions);
    register({ close: async () => anonymous.connection.close() });
    const mssbcbs = await open({
      host: "127.0.0.1",
      port: emulator.port,
      sasl_mechanisms: {
        MSSBCBS: () => ({
          start: (cb: (err: unknown, response: Buffer) => void) => cb(undefined, Buffer.alloc(0)),
        }),
      },
    } as unknown as ConnectionOptions);
    register({ close: async () => mssbcbs.connection.close() });
    const plain = await open({ host: "127.0.0.1", port: emulator.port });
    register({ close: async () => plain.connection.close() });
    for (const c of [anonymous, mssbcbs, plain]) expect(c.connection.is_open()).toBe(true);
  });

  it("sends heartbeats so a client with a short idle timeout stays connected", async () => {
    const { emulator } = await startBus(register, { queues: [queue("q")] });
    // rhea closes a connection that hears nothing for twice its idle timeout (here 2 s): only the
    // emulator's heartbeats keep this idle one open for 3 s. (A shorter timeout flaked on a loaded
    // machine, where the in-process emulator's timers can run late.)
    const c = await open({ host: "127.0.0.1", port: emulator.port, idle_time_out: 1000 });
    register({ close: async () => c.connection.close() });
    await sleep(3000);
    expect(c.closedEarly()).toBe(false);
    expect(c.connection.is_open()).toBe(true);
  });
});
