// "Nothing is lost, nothing is shown twice" in a real browser: three tabs of one user, one per
// transport, while the gateway (a child process, `herald gateway`, with the table store on Azurite) is
// killed with SIGKILL in the middle of a stream of notifications and started again on the same port.
// Notifications go straight to Service Bus, so publishing goes on while the gateway is down.
import { createServer } from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Publisher } from "../publisher/publisher.js";
import {
  demoView,
  describeWithBrowser,
  launchChromium,
  newContext,
  openDemo,
  waitForDemo,
  type DemoView,
} from "./helpers/browser.js";
import { startHerald, type RunningServer } from "./helpers/cli.js";
import { startTestStack, type TestStack } from "./helpers/stack.js";

const USER = "restart-user";
const TRANSPORTS = ["websocket", "sse", "long-polling"] as const;
const BEFORE = 8;
const DURING = 16;
const AFTER = 8;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describeWithBrowser("client in Chromium: gateway killed and restarted mid-stream", () => {
  let stack: TestStack;
  let gateway: RunningServer | undefined;
  let browser: Browser;
  let context: BrowserContext;
  let publisher: Publisher;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startTestStack({ store: "table" });
    publisher = Publisher.fromConnectionString(stack.env.HERALD_SERVICEBUS!);
    env = {
      ...stack.env,
      HERALD_PORT: String(await freePort()),
      HERALD_DEV_TOKENS: "true",
      // Shared by the first and the restarted process, as by replicas: open tokens stay valid.
      HERALD_GATEWAY_TOKEN_SECRET: "browser-restart-test-gateway-token-secret",
    };
    gateway = await startHerald(["gateway"], { env });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await gateway?.stop("SIGKILL");
    await publisher?.close();
    await stack?.close();
  });

  it("shows every notification exactly once on every transport", { timeout: 120_000 }, async () => {
    const url = gateway!.url;
    context = await newContext(browser);
    const pages: Page[] = [];
    for (const transport of TRANSPORTS) {
      pages.push(await openDemo(context, url, { user: USER, transports: [transport] }));
    }
    const published: string[] = [];
    let n = 0;
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const id = `restart-${n++}`;
        await publisher.publish({ id, type: "test.restart", to: { users: [USER] }, data: { n } });
        published.push(id);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    const allShown = (page: Page, count: number, what: string): Promise<DemoView> =>
      waitForDemo(page, (v) => new Set(v.ids).size >= count, what, 60_000);

    await send(BEFORE);
    for (const page of pages) await allShown(page, BEFORE, `${BEFORE} before the kill`);

    // Kill the gateway a few notifications into the stream, while more are being published.
    const during = send(DURING);
    while (n < BEFORE + 3) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await gateway!.stop("SIGKILL")).toBeNull();
    await during;
    gateway = await startHerald(["gateway"], { env });
    expect(gateway.url).toBe(url);
    await send(AFTER);

    const total = BEFORE + DURING + AFTER;
    for (const [i, page] of pages.entries()) await allShown(page, total, `all ${total} on ${TRANSPORTS[i]}`);
    // A window for late repeats (replays after reconnects, redelivered messages) to show up.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (const [i, page] of pages.entries()) {
      // The gateway's own transports lost their connection and came back (WebSocket goes through
      // Web PubSub, which stayed up).
      if (TRANSPORTS[i] !== "websocket") {
        expect(await page.locator("#log li").allTextContents(), TRANSPORTS[i]).toContainEqual(
          expect.stringMatching(/state reconnecting$/),
        );
      }
      const { ids } = await demoView(page);
      expect(ids.length, `${TRANSPORTS[i]} showed a notification twice`).toBe(new Set(ids).size);
      expect([...ids].sort(), TRANSPORTS[i]).toEqual([...published].sort());
    }
  });
});
