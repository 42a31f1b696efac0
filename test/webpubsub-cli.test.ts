import { describe, expect, it } from "vitest";
import { WebPubSubServiceClient } from "@azure/web-pubsub";
import { DEV_ACCESS_KEY } from "../emulator/webpubsub/index.js";
import { runHerald, startHerald } from "./helpers/cli.js";
import { onCleanup, sdkClient, waitFor } from "./webpubsub-helpers.js";

describe("herald emulator webpubsub", () => {
  it("serves the SDKs until SIGTERM", async () => {
    const server = await startHerald(["emulator", "webpubsub", "--port", "0", "--host", "127.0.0.1"]);
    onCleanup(async () => {
      await server.stop("SIGKILL");
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = new URL(server.url).port;
    await waitFor(() => server.stderr().includes("connection string"), "connection string line");
    expect(server.stderr()).toContain(
      `Endpoint=http://127.0.0.1;Port=${port};AccessKey=${DEV_ACCESS_KEY};Version=1.0;`,
    );
    const service = new WebPubSubServiceClient(
      `Endpoint=http://127.0.0.1;Port=${port};AccessKey=${DEV_ACCESS_KEY};Version=1.0;`,
      "cli",
      { allowInsecureConnection: true },
    );
    const client = await sdkClient((await service.getClientAccessToken({ userId: "u" })).url);
    await service.sendToAll({ from: "cli" });
    await waitFor(() => client.serverMessages.length === 1, "message");
    client.client.stop();
    expect(await server.stop("SIGTERM")).toBe(0);
  });

  it("documents its options and rejects bad ones", async () => {
    const help = await runHerald(["emulator", "webpubsub", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/allowInsecureConnection/);
    const shortKey = await runHerald(["emulator", "webpubsub", "--key", "short"]);
    expect(shortKey.code).toBe(2);
    expect(shortKey.stderr).toMatch(/HERALD_USAGE: --key must be at least 32 bytes/);
    const remote = await runHerald(["emulator", "webpubsub", "--port", "0", "--host", "0.0.0.0"]);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toMatch(/HERALD_INVALID_CONFIG: host must be a loopback address/);
  });

  it("uses a key of its own and keeps it out of its output", async () => {
    const key = "my-own-local-key-0123456789-abcdefghij";
    const server = await startHerald([
      "emulator",
      "webpubsub",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--key",
      key,
    ]);
    onCleanup(async () => {
      await server.stop("SIGKILL");
    });
    await waitFor(() => server.stderr().includes("connection string"), "connection string line");
    expect(server.stderr()).toContain("AccessKey=<your key>");
    expect(server.stderr()).not.toContain(key);
    const port = new URL(server.url).port;
    const service = new WebPubSubServiceClient(
      `Endpoint=http://127.0.0.1;Port=${port};AccessKey=${key};Version=1.0;`,
      "cli",
      {
        allowInsecureConnection: true,
      },
    );
    expect(await service.groupExists("nothing")).toBe(false);
    const wrong = new WebPubSubServiceClient(
      `Endpoint=http://127.0.0.1;Port=${port};AccessKey=${DEV_ACCESS_KEY};Version=1.0;`,
      "cli",
      { allowInsecureConnection: true },
    );
    await expect(wrong.groupExists("nothing")).rejects.toMatchObject({ statusCode: 401 });
    expect(await server.stop("SIGTERM")).toBe(0);
  });
});
