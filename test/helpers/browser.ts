// A real headless Chromium for the end-to-end tests, driven by playwright-core (which downloads no
// browser of its own). Which executable: HERALD_CHROMIUM, else /usr/bin/chromium, else `chromium` or
// `chromium-browser` on PATH. `.ci/run` installs Debian's chromium package.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { describe, it } from "vitest";

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
 * Launches headless Chromium. In a container as root the sandbox cannot start (no user namespaces), and
 * /dev/shm is often 64 MB, too small for Chromium's shared memory.
 */
export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error(CHROMIUM_MISSING);
  const args = ["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"];
  if (process.getuid?.() === 0) args.push("--no-sandbox");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 30_000 });
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
      it.skip(`(skipped: ${CHROMIUM_MISSING})`, () => undefined);
    }
  });
}
