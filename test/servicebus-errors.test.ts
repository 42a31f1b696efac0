import { connect, type Socket } from "node:net";
import type { ServiceBusError } from "@azure/service-bus";
import rhea from "rhea";
import { describe, expect, it } from "vitest";
import { rawConnect, type RawConnection } from "./helpers/amqp.js";
import { queue, startBus, topic, useCleanup, FROM_START } from "./helpers/servicebus.js";

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
}

function closed(s: Socket, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    s.on("error", () => {});
    s.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
    s.resume();
  });
}

describe("Service Bus emulator: errors the client maps, and malformed input", () => {
  const register = useCleanup();

  it("missing entities are MessagingEntityNotFound for send, receive and peek", async () => {
    const { client } = await startBus(register, { queues: [queue("exists")] });
    const send = await client
      .createSender("nope")
      .sendMessages({ body: 1 })
      .catch((e: unknown) => e);
    expect((send as ServiceBusError).code).toBe("MessagingEntityNotFound");
    const recv = await client
      .createReceiver("nope")
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .catch((e: unknown) => e);
    expect((recv as ServiceBusError).code).toBe("MessagingEntityNotFound");
    const peek = await client
      .createReceiver("nope")
      .peekMessages(1, FROM_START)
      .catch((e: unknown) => e);
    expect((peek as ServiceBusError).code).toBe("MessagingEntityNotFound");
    const sub = await client
      .createReceiver("exists", "sub")
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .catch((e: unknown) => e);
    expect((sub as ServiceBusError).code).toBe("MessagingEntityNotFound");
    // The connection survives all of that.
    await client.createSender("exists").sendMessages({ body: "ok" });
    expect((await client.createReceiver("exists").peekMessages(1, FROM_START))[0]!.body).toBe("ok");
  });

  it("disabled entities are MessagingEntityDisabled; re-enabling works", async () => {
    const { client, emulator } = await startBus(register, { queues: [queue("q")] });
    emulator.entities.updateQueue("q", { status: "Disabled" });
    const send = await client
      .createSender("q")
      .sendMessages({ body: 1 })
      .catch((e: unknown) => e);
    expect((send as ServiceBusError).code).toBe("MessagingEntityDisabled");
    const recv = await client
      .createReceiver("q")
      .receiveMessages(1, { maxWaitTimeInMs: 500 })
      .catch((e: unknown) => e);
    expect((recv as ServiceBusError).code).toBe("MessagingEntityDisabled");
    emulator.entities.updateQueue("q", { status: "Active" });
    await client.createSender("q").sendMessages({ body: 2 });
    expect((await client.createReceiver("q").peekMessages(1, FROM_START))[0]!.body).toBe(2);
  });

  it("deleting an entity detaches its receivers with MessagingEntityNotFound", async () => {
    const { client, emulator } = await startBus(register, { topics: [topic("t", [{ name: "s" }])] });
    const receiver = client.createReceiver("t", "s");
    const error = new Promise<unknown>((resolve) => {
      receiver.subscribe({
        async processMessage() {},
        async processError(args) {
          resolve(args.error);
        },
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    emulator.entities.deleteSubscription("t", "s");
    expect(((await error) as ServiceBusError).code).toBe("MessagingEntityNotFound");
  });

  it("garbage bytes, a bad protocol header and oversize frames close that connection only", async () => {
    const { client, emulator } = await startBus(register, { queues: [queue("q")] });
    const a = await rawSocket(emulator.port);
    a.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect(await closed(a)).toBe(true);

    const b = await rawSocket(emulator.port);
    b.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00])); // AMQP header, plain
    const frame = Buffer.alloc(8);
    frame.writeUInt32BE(0x7fff_fff0, 0); // a frame "of 2 GiB"
    b.write(frame);
    b.write(Buffer.alloc(64 * 1024, 0x55));
    expect(await closed(b)).toBe(true);

    const c = await rawSocket(emulator.port);
    c.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00]));
    c.write(Buffer.from([0x00, 0x00, 0x00, 0x0c, 0x02, 0x00, 0x00, 0x00, 0x00, 0x53, 0x99, 0x45])); // unknown performative
    expect(await closed(c)).toBe(true);

    const d = await rawSocket(emulator.port);
    d.write(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
    expect(await closed(d)).toBe(true);

    await client.createSender("q").sendMessages({ body: "still alive" });
    expect((await client.createReceiver("q").peekMessages(1, FROM_START))[0]!.body).toBe("still alive");
  });

  describe("over raw AMQP", () => {
    const raw = async (port: number): Promise<RawConnection> => {
      const r = await rawConnect(port);
      register(r);
      return r;
    };

    it("refuses unknown link addresses with amqp:not-found", async () => {
      const { emulator } = await startBus(register, { queues: [queue("q")] });
      const conn = await raw(emulator.port);
      expect((await conn.attachReceiver("$nothing")).error?.condition).toBe("amqp:not-found");
      expect((await conn.attachReceiver("missing/Subscriptions/x")).error?.condition).toBe("amqp:not-found");
      expect((await conn.attachSender("$weird")).error?.condition).toBe("amqp:not-found");
      expect((await conn.attachSender("q/$DeadLetterQueue")).error?.condition).toBe("amqp:not-allowed");
      expect((await conn.attachReceiver({})).error?.condition).toBe("com.microsoft:argument-error");
      // The connection is still usable.
      expect((await conn.attachSender("q")).error).toBeUndefined();
    });

    it("answers a drain at once: with what is there, or with nothing", async () => {
      const { emulator, client } = await startBus(register, { queues: [queue("q")] });
      await client.createSender("q").sendMessages([{ body: 1 }, { body: 2 }]);
      const conn = await raw(emulator.port);
      const { receiver } = await conn.attachReceiver("q", { credit_window: 0, autoaccept: false });
      const got: unknown[] = [];
      receiver.on("message", (ctx) => got.push(ctx.message?.body));
      const drained = (): Promise<void> =>
        new Promise((resolve) => receiver.once("receiver_drained", () => resolve()));
      let done = drained();
      receiver.add_credit(5);
      receiver.drain_credit();
      await done;
      expect(got).toHaveLength(2);
      expect((receiver as unknown as { credit: number }).credit).toBe(0);
      done = drained();
      receiver.add_credit(3);
      receiver.drain_credit();
      await done;
      expect(got).toHaveLength(2);
    });

    it("rejects undecodable and unsupported transfers with a decode error, keeping the link", async () => {
      const { emulator, client } = await startBus(register, { queues: [queue("q")] });
      const conn = await raw(emulator.port);
      const { sender } = await conn.attachSender("q");
      const outcome = (payload: Buffer, format?: number): Promise<string> =>
        new Promise((resolve) => {
          const d = sender.send(payload, undefined, format ?? 0);
          const on = (ctx: { delivery?: unknown }, kind: string): void => {
            if (ctx.delivery !== d) return;
            const state = (d as unknown as { remote_state?: { error?: { condition?: string } } })
              .remote_state;
            resolve(state?.error?.condition ?? kind);
          };
          sender.on("accepted", (ctx) => on(ctx, "accepted"));
          sender.on("rejected", (ctx) => on(ctx, "rejected"));
        });
      expect(await outcome(Buffer.from([0xde, 0xad, 0xbe, 0xef]))).toBe("amqp:decode-error");
      expect(await outcome(Buffer.from([0x00, 0x53, 0x73, 0xc0, 0x01, 0x00]))).toBe("amqp:decode-error"); // no body
      expect(await outcome(Buffer.from([0x00, 0x53, 0x75, 0xa0, 0x01, 0x41]), 0x1234)).toBe(
        "com.microsoft:argument-error",
      );
      const ok = rhea.message.encode({ body: "fine" });
      expect(await outcome(ok)).toBe("accepted");
      const [m] = await client.createReceiver("q").peekMessages(1, FROM_START);
      expect(m!.body).toBe("fine");
    });

    it("answers bad $management requests with status codes and error conditions", async () => {
      const { emulator } = await startBus(register, { queues: [queue("q")] });
      const conn = await raw(emulator.port);
      const status = (m: { application_properties?: Record<string, unknown> }) => [
        m.application_properties?.["statusCode"],
        m.application_properties?.["errorCondition"],
      ];
      expect(
        status(await conn.request("q/$management", { application_properties: { operation: "bogus" } })),
      ).toEqual([400, "com.microsoft:argument-error"]);
      expect(status(await conn.request("q/$management", { body: "no operation" }))).toEqual([
        400,
        "com.microsoft:argument-error",
      ]);
      expect(
        status(
          await conn.request("q/$management", {
            application_properties: { operation: "com.microsoft:renew-lock" },
            body: { "lock-tokens": "not-a-list" },
          }),
        ),
      ).toEqual([400, "com.microsoft:argument-error"]);
      expect(
        status(
          await conn.request("q/$management", {
            application_properties: { operation: "com.microsoft:renew-lock" },
            body: { "lock-tokens": rhea.types.wrap_array([Buffer.alloc(16, 1)], 0x98, undefined) },
          }),
        ),
      ).toEqual([410, "com.microsoft:message-lock-lost"]);
      expect(
        status(
          await conn.request("nope/$management", {
            application_properties: { operation: "com.microsoft:peek-message" },
            body: {
              "from-sequence-number": rhea.types.wrap_long(1),
              "message-count": rhea.types.wrap_int(1),
            },
          }),
        ),
      ).toEqual([404, "amqp:not-found"]);
      expect(
        status(
          await conn.request("q/$management", {
            application_properties: { operation: "com.microsoft:add-rule" },
            body: { "rule-name": "r" },
          }),
        ),
      ).toEqual([400, "amqp:not-allowed"]);
    });

    it("checks put-token requests on $cbs: audience, token shape, operation", async () => {
      const { emulator } = await startBus(register, { queues: [queue("q")] });
      const conn = await raw(emulator.port);
      const putToken = async (name: string, token: string, operation = "put-token"): Promise<unknown> => {
        const reply = await conn.request("$cbs", {
          application_properties: { operation, name, type: "servicebus.windows.net:sastoken" },
          body: token,
        });
        return reply.application_properties?.["status-code"];
      };
      const good = "SharedAccessSignature sr=x&sig=abc&se=9999999999&skn=RootManageSharedAccessKey";
      expect(await putToken(`sb://localhost:${emulator.port}/q`, good)).toBe(202);
      expect(await putToken("sb://sbemulatorns.servicebus.windows.net/q", good)).toBe(202);
      expect(await putToken("sb://someone-else.example.com/q", good)).toBe(401);
      expect(await putToken("sb://localhost/q", "Bearer nonsense")).toBe(401);
      expect(await putToken("sb://localhost/q", good, "delete-token")).toBe(400);
    });
  });
});
