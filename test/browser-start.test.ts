// `herald start --memory` as a user runs it (a child process on free ports): its demo page, in a
// real headless Chromium, signs in with a dev token and shows a notification published the way the
// start banner says (curl with the local publish key, here as fetch).
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithBrowser, launchChromium, newContext, openDemo, waitForDemo } from "./helpers/browser.js";
import { startHerald, type RunningServer, START_FREE_PORTS as FREE_PORTS } from "./helpers/cli.js";

describeWithBrowser("herald start: the demo page", () => {
  let running: RunningServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    running = await startHerald(["start", "--memory", ...FREE_PORTS], {
      timeoutMs: 30_000,
    });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await running?.stop("SIGINT");
  });

  it("receives a notification published with the local publish key", { timeout: 60_000 }, async () => {
    const url = running!.url;
    expect(running!.stdout()).toContain(`demo page        ${url}/`);
    const context = await newContext(browser!);
    try {
      const page = await openDemo(context, url, { user: "alice" });
      const res = await fetch(`${url}/api/notifications`, {
        method: "POST",
        headers: { authorization: "Bearer herald-local-publish-key", "content-type": "application/json" },
        body: JSON.stringify({ type: "hello", to: { broadcast: true }, data: { text: "hi" } }),
      });
      expect(res.status).toBe(202);
      const { ids } = (await res.json()) as { ids: string[] };
      const view = await waitForDemo(page, (v) => v.ids.length >= 1, "the notification", 30_000);
      expect(view.ids).toEqual(ids);
      expect(view.transport).toBe("websocket");
      const item = page.locator("#notifications li.notification").first();
      expect(await item.locator(".type").textContent()).toBe("hello");
      expect(await item.locator("pre.data").textContent()).toBe(JSON.stringify({ text: "hi" }, null, 2));
    } finally {
      await context.close();
    }
  });
});
