/** A raw AMQP 1.0 client (rhea) for tests that send what the official SDK never would. */
import rhea from "rhea";
import type { Connection, EventContext, Message, Receiver, Sender } from "rhea";

export interface RawConnection {
  connection: Connection;
  close(): Promise<void>;
  /** Attaches a receiver; resolves with the attach answer and, if it came, the detach error. */
  attachReceiver(
    source: string | object,
    options?: object,
  ): Promise<{ receiver: Receiver; error?: { condition?: string } }>;
  attachSender(target: string, options?: object): Promise<{ sender: Sender; error?: { condition?: string } }>;
  /** Sends a request on `<address>` and waits for the reply on a link whose target is a fresh reply-to. */
  request(address: string, message: Partial<Message>): Promise<Message>;
}

export function rawConnect(port: number): Promise<RawConnection> {
  const container = rhea.create_container();
  container.on("error", () => {});
  return new Promise((resolve, reject) => {
    const connection = container.connect({ host: "127.0.0.1", port, reconnect: false, idle_time_out: 0 });
    connection.once("connection_open", () => {
      const settleAttach = <T extends Sender | Receiver>(link: T, open: string, close: string) =>
        new Promise<{ link: T; error?: { condition?: string } }>((res) => {
          let opened = false;
          link.once(open, () => {
            opened = true;
            // A refused link is detached right after the attach: give it a moment to arrive.
            setTimeout(() => res({ link }), 100);
          });
          link.once(close, (ctx: EventContext) => {
            const err = (ctx.receiver ?? ctx.sender)?.error as { condition?: string } | undefined;
            res({ link, error: err ?? { condition: opened ? "closed" : "closed-before-open" } });
          });
          link.on(`${open.split("_")[0]}_error`, () => {});
        });
      let replyCounter = 0;
      resolve({
        connection,
        close: () =>
          new Promise((r) => {
            if (!connection.is_open()) return r();
            connection.once("connection_close", () => r());
            connection.once("disconnected", () => r());
            connection.close();
            setTimeout(r, 500);
          }),
        async attachReceiver(source, options = {}) {
          const receiver = connection.open_receiver({ source: source as string, ...options });
          const r = await settleAttach(receiver, "receiver_open", "receiver_close");
          return { receiver: r.link, ...(r.error ? { error: r.error } : {}) };
        },
        async attachSender(target, options = {}) {
          const sender = connection.open_sender({ target: { address: target }, ...options });
          const r = await settleAttach(sender, "sender_open", "sender_close");
          return { sender: r.link, ...(r.error ? { error: r.error } : {}) };
        },
        request(address, message) {
          const replyTo = `reply-${++replyCounter}`;
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error("no reply")), 3000);
            const receiver = connection.open_receiver({ source: { address }, target: { address: replyTo } });
            receiver.on("message", (ctx: EventContext) => {
              clearTimeout(timer);
              res(ctx.message!);
            });
            const sender = connection.open_sender({ target: { address } });
            sender.once("sendable", () => {
              sender.send({ message_id: `req-${replyCounter}`, reply_to: replyTo, ...message } as Message);
            });
          });
        },
      });
    });
    connection.once("disconnected", (ctx: EventContext) => reject(ctx.error ?? new Error("disconnected")));
  });
}
