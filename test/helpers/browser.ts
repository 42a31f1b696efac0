// A real headless Chromium for the end-to-end tests, driven by playwright-core (which downloads no
// browser of its own). Which executable: HERALD_CHROMIUM, else /usr/bin/chromium, else `chromium` or
// `chromium-browser` on PATH. `.ci/run` installs Debian's chromium package.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { describe, it } from "vitest";
import { waitFor } from "./wait.js";

function findChromium(): string | undefined {
  const fromEnv = process.env.HERALD_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

export const CHROMIUM = findChromium();

export const CHROMIUM_MISSING =
  "no Chromium found: install Debian's chromium package (apt-get install chromium), or set HERALD_CHROMIUM " +
  "to a Chromium executable" +
  (process.env.HERALD_CHROMIUM ? ` (HERALD_CHROMIUM=${process.env.HERALD_CHROMIUM} does not exist)` : "");

/**
 * Launches headless Chromium with flags for a container: the sandbox cannot start as root or without
 * user namespaces (common in CI containers), and it guards against hostile pages, while these tests
 * load only their own pages from loopback; /dev/shm is often 64 MB there, too small for Chromium.
 */
export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error(CHROMIUM_MISSING);
  const args = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
  ];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 30_000 });
}

/** A fresh context (own storage: nothing remembered from another test) whose actions time out. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  // Playwright's actions otherwise wait forever (e.g. for a hidden input to show).
  context.setDefaultTimeout(15_000);
  return context;
}

/**
 * A describe block for tests that need the browser. Without one, the block skips with the reason
 * locally; in CI (`CI=true`) it fails instead, so a broken install cannot pass unnoticed.
 */
export function describeWithBrowser(name: string, body: () => void): void {
  if (CHROMIUM) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    if (process.env.CI === "true") {
      it("finds Chromium (required in CI)", () => {
        throw new Error(CHROMIUM_MISSING);
      });
    } else {
      console.warn(`${name}: skipped, ${CHROMIUM_MISSING}`);
      it.skip(`(skipped: ${CHROMIUM_MISSING})`, () => undefined);
    }
  });
}

/** Where the demo page stands, as it shows it. */
export interface DemoView {
  state: string;
  transport: string;
  /** `data-id` of every notification shown, oldest first (repeats kept: the page itself does not dedup). */
  ids: string[];
}

/** Reads the demo page's status line and notification list. */
export async function demoView(page: Page): Promise<DemoView> {
  return page.evaluate(() => {
    const text = (selector: string): string => document.querySelector(selector)?.textContent ?? "";
    const ids = [...document.querySelectorAll<HTMLElement>("#notifications li.notification")]
      .map((li) => li.dataset.id ?? "")
      .reverse();
    return { state: text("#state"), transport: text("#transport"), ids };
  });
}

/**
 * Opens the demo page of `gateway` signed in as `user` with dev tokens, restricted to `transports`
 * when given, and waits until it says connected.
 */
export async function openDemo(
  context: BrowserContext,
  gateway: string,
  options: { user: string; transports?: string[]; waitForConnected?: boolean },
): Promise<Page> {
  const page = await context.newPage();
  const url = new URL("/", gateway);
  url.searchParams.set("user", options.user);
  if (options.transports) url.searchParams.set("transports", options.transports.join(","));
  url.searchParams.set("connect", "1");
  await page.goto(url.toString());
  if (options.waitForConnected ?? true) await waitForDemo(page, (v) => v.state === "connected", "connected");
  return page;
}

/** Waits until the demo page's view satisfies `condition`; the failure shows the view and the page's log. */
export async function waitForDemo(
  page: Page,
  condition: (view: DemoView) => boolean,
  message: string,
  timeoutMs = 20_000,
): Promise<DemoView> {
  let view: DemoView = { state: "", transport: "", ids: [] };
  await waitFor(
    async () => {
      view = await demoView(page);
      return condition(view);
    },
    {
      timeoutMs,
      intervalMs: 100,
      message: `the demo page: ${message}`,
      onTimeout: async () =>
        `state ${view.state}, transport ${view.transport}, ${view.ids.length} shown; log: ` +
        (await page.locator("#log li").allTextContents()).slice(0, 15).join(" | "),
    },
  );
  return view;
}
