import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./log.js";

describe("gateway logger", () => {
  it("writes JSON lines with ids and censors data, tokens and connection strings", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ destination });
    log.info(
      {
        notificationId: "n1",
        data: { secret: "card" },
        token: "eyJ",
        connectionString: "Endpoint=sb://x;SharedAccessKey=k",
      },
      "stored",
    );
    log.child({ component: "consumer" }).warn({ message: { body: "private" } }, "abandoned");
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      notificationId: "n1",
      data: "[redacted]",
      token: "[redacted]",
      msg: "stored",
    });
    expect(first!.connectionString).toBe("[redacted]");
    expect(second).toMatchObject({ component: "consumer", message: { body: "[redacted]" } });
    expect(lines.join("")).not.toMatch(/card|private|SharedAccessKey/);
  });
});
