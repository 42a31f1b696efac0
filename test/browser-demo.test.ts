// The demo page in a real headless Chromium against a real gateway and the emulators: it loads
// without errors, signs in with a dev token, publishes from its form, and shows untrusted data as
// text.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { userStream } from "../core/streams.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { describeWithBrowser, launchChromium, newContext } from "./helpers/browser.js";
import { startTestStack, type TestStack } from "./helpers/stack.js";
import { waitFor } from "./helpers/wait.js";

describeWithBrowser("demo page in Chromium", () => {
  let stack: TestStack;
  let gateway: Gateway;
  let browser: Browser;
  let context: BrowserContext;
  let errors: string[] = [];

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

  async function newPage(): Promise<Page> {
    context = await newContext(browser);
    errors = [];
    const page = await context.newPage();
    page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
    });
    return page;
  }

  it("opens without script errors, signed out, with the sign-in and publish forms", async () => {
    const page = await newPage();
    const response = await page.goto(gateway.url);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.locator("#state").textContent()).toBe("signed out");
    expect(await page.locator("#signin input[name=user]").inputValue()).toBe("alice");
    expect(await page.locator("#signin select[name=transport] option").allInnerTexts()).toHaveLength(5);
    expect(await page.locator("#publish button[type=submit]").isEnabled()).toBe(true);
    expect(errors).toEqual([]);
  });

  it("publishes from its form with a dev publisher token, and reports a refusal", async () => {
    const page = await newPage();
    await page.goto(gateway.url);
    await page.locator("#publish select[name=to]").selectOption("user");
    await page.locator("#publish input[name=name]").fill("bob");
    await page.locator("#publish button[type=submit]").click();
    await expect.poll(() => page.locator("#published").textContent()).toMatch(/^published [0-9a-f-]{36}$/);
    const id = (await page.locator("#published").textContent())!.slice("published ".length);
    // The gateway consumed it from Service Bus into bob's stream.
    await waitFor(
      async () => (await gateway.store.read(userStream("bob"), 0, 10)).frames.some((f) => f.id === id),
      {
        message: "the published notification in bob's stream",
      },
    );

    await page.locator("#publish textarea[name=data]").fill("{ not json");
    await page.locator("#publish button[type=submit]").click();
    await expect.poll(() => page.locator("#published").textContent()).toMatch(/^the data is not JSON/);
    await page.locator("#publish textarea[name=data]").fill("{}");
    await page.locator("#publish details summary").click();
    await page.locator("#publish input[name=key]").fill("wrong-key");
    await page.locator("#publish button[type=submit]").click();
    await expect
      .poll(() => page.locator("#published").textContent())
      .toBe("publish failed: HERALD_UNAUTHORIZED: the publish key is not recognised");
    expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
  });
});
