// The client library in a real headless Chromium, through the demo page, against a real gateway and
// the Service Bus and Web PubSub emulators: live delivery on each transport, fallback when WebSocket
// and then SSE are blocked, and two tabs of one user. One browser for the file; a fresh context per
// test, so nothing remembered by one test (the working transport in localStorage) leaks into another.
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import {
  demoView,
  describeWithBrowser,
  launchChromium,
  newContext,
  openDemo,
  waitForDemo,
} from "./helpers/browser.js";
import { TEST_PUBLISH_KEY, startTestStack, type TestStack } from "./helpers/stack.js";

describeWithBrowser("client in Chromium: transports and fallback", () => {
  let stack: TestStack;
  let gateway: Gateway;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    stack = await startTestStack();
    gateway = await startGateway(readSettings({ ...stack.env, HERALD_DEV_TOKENS: "true" }), {
      log: createLogger({ level: "silent" }),
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await stack?.close();
  });
  afterEach(async () => {
    await context?.close();
  });

  /** Publishes `count` notifications to `user` over the gateway's HTTP API; resolves with their ids. */
  async function publish(user: string, count: number): Promise<string[]> {
    const batch = Array.from({ length: count }, (_, i) => ({
      type: "test.browser",
      to: { users: [user] },
      data: { i },
    }));
    const res = await fetch(`${gateway.url}/api/notifications`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_PUBLISH_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(batch),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { ids: string[] }).ids;
  }

  it.each(["websocket", "sse", "long-polling"])("delivers live over %s only", async (transport) => {
    context = await newContext(browser);
    const user = `live-${transport}`;
    const page = await openDemo(context, gateway.url, { user, transports: [transport] });
    expect((await demoView(page)).transport).toBe(transport);
    const ids = await publish(user, 3);
    const view = await waitForDemo(page, (v) => v.ids.length >= 3, "3 notifications");
    expect(view.ids).toEqual(ids);
    expect(view.transport).toBe(transport);
    // What the page shows is the data, as text.
    expect(await page.locator("#notifications li.notification pre.data").first().textContent()).toBe(
      JSON.stringify({ i: 2 }, null, 2),
    );
  });

  it("falls back to SSE when WebSocket is blocked, and goes straight to SSE on the next load", async () => {
    context = await newContext(browser);
    let attempts = 0;
    // A proxy that refuses the upgrade: every WebSocket the page opens is closed before it opens.
    await context.routeWebSocket(/.*/, (ws) => {
      attempts++;
      void ws.close();
    });
    const user = "no-websocket";
    const page = await openDemo(context, gateway.url, { user });
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect((await demoView(page)).transport).toBe("sse");
    const ids = await publish(user, 3);
    expect((await waitForDemo(page, (v) => v.ids.length >= 3, "3 notifications")).ids).toEqual(ids);

    const before = attempts;
    await page.reload();
    await waitForDemo(page, (v) => v.state === "connected", "connected after reload");
    expect((await demoView(page)).transport).toBe("sse");
    expect(attempts).toBe(before);
  });

  it("falls back to long-polling when WebSocket and SSE are both blocked", async () => {
    context = await newContext(browser);
    await context.routeWebSocket(/.*/, (ws) => void ws.close());
    let sseAttempts = 0;
    await context.route(/\/api\/sse\?/, async (route) => {
      sseAttempts++;
      await route.abort("connectionrefused");
    });
    const user = "no-streaming";
    const page = await openDemo(context, gateway.url, { user });
    expect(sseAttempts).toBeGreaterThanOrEqual(1);
    expect((await demoView(page)).transport).toBe("long-polling");
    const ids = await publish(user, 3);
    expect((await waitForDemo(page, (v) => v.ids.length >= 3, "3 notifications")).ids).toEqual(ids);
  });

  it("delivers to two tabs of the same user, each once", async () => {
    context = await newContext(browser);
    const user = "two-tabs";
    const first = await openDemo(context, gateway.url, { user });
    const second = await openDemo(context, gateway.url, { user });
    const ids = await publish(user, 4);
    for (const page of [first, second]) {
      expect((await waitForDemo(page, (v) => v.ids.length >= 4, "4 notifications")).ids).toEqual(ids);
    }
  });
});
