// The demo page in a real headless Chromium against a real gateway and the emulators: it loads
// without errors, signs in with a dev token, publishes from its form, and shows untrusted data as
// text.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { userStream } from "../core/streams.js";
import { signDevToken } from "../gateway/auth/tokens.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { describeWithBrowser, launchChromium, newContext } from "./helpers/browser.js";
import { TEST_JWT_SECRET, startTestStack, type TestStack } from "./helpers/stack.js";
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

  it("signs in with a pasted application token and shows whom the gateway says it is for", async () => {
    const page = await newPage();
    await page.goto(gateway.url);
    await page.locator("#signin details summary").click();
    await page
      .locator("#signin input[name=jwt]")
      .fill(await signDevToken(TEST_JWT_SECRET, { userId: "pasted-user" }));
    await page.locator("#signin button[type=submit]").click();
    await expect.poll(() => page.locator("#state").textContent(), { timeout: 15_000 }).toBe("connected");
    expect(await page.locator("#user").textContent()).toBe("pasted-user");
    expect(errors).toEqual([]);
  });

  it("signs in from the form with a forced transport, shows hostile data as text, and disconnects", async () => {
    const page = await newPage();
    await page.goto(gateway.url);
    await page.locator("#signin input[name=user]").fill("mallory-target");
    await page.locator("#signin select[name=transport]").selectOption("sse");
    await page.locator("#signin button[type=submit]").click();
    await expect.poll(() => page.locator("#state").textContent(), { timeout: 15_000 }).toBe("connected");
    expect(await page.locator("#transport").textContent()).toBe("sse");
    expect(await page.locator("#user").textContent()).toBe("mallory-target");

    const hostile = {
      html: '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>',
      "</pre><b>": "<svg onload=window.__pwned=3>",
    };
    await page.locator("#publish select[name=to]").selectOption("me");
    await page.locator("#publish input[name=type]").fill("x.y");
    await page.locator("#publish textarea[name=data]").fill(JSON.stringify(hostile));
    await page.locator("#publish button[type=submit]").click();
    const item = page.locator("#notifications li.notification");
    await expect.poll(() => item.count(), { timeout: 15_000 }).toBe(1);
    expect(await item.locator("pre.data").textContent()).toBe(JSON.stringify(hostile, null, 2));
    expect(
      await page
        .locator("#notifications img, #notifications script, #notifications svg, #notifications b")
        .count(),
    ).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();

    await page.locator("#disconnect").click();
    expect(await page.locator("#state").textContent()).toBe("signed out");
    expect(await page.locator("#transport").textContent()).toBe("—");
    expect(errors).toEqual([]);
  });
});
