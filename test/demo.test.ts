// The demo page's routes and the dev-token route, in a real gateway against the emulators.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSettings } from "../core/config.js";
import { isHeraldError } from "../core/errors.js";
import type { NegotiateResponse } from "../core/live.js";
import type { DevTokenResponse } from "../gateway/handlers/dev-token.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { createLogger } from "../gateway/log.js";
import { startTestStack, type TestStack } from "./helpers/stack.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const silent = createLogger({ level: "silent" });
let stack: TestStack;
/** Default settings: dev tokens off. */
let plain: Gateway;
/** HERALD_DEV_TOKENS=true, as `herald start` runs it. */
let dev: Gateway;

beforeAll(async () => {
  stack = await startTestStack();
  plain = await startGateway(readSettings(stack.env), { log: silent });
  dev = await startGateway(readSettings({ ...stack.env, HERALD_DEV_TOKENS: "true" }), { log: silent });
});

afterAll(async () => {
  await dev?.close();
  await plain?.close();
  await stack?.close();
});

function devToken(base: string, body: unknown, contentType = "application/json"): Promise<Response> {
  return fetch(`${base}/api/dev/token`, {
    method: "POST",
    headers: { "content-type": contentType },
    body: JSON.stringify(body),
  });
}

describe("demo page", () => {
  it("is served at / with its script and style, under a CSP without inline script", async () => {
    const page = await fetch(`${plain.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'self';/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/demo/app.js"></script>');
    expect(html).not.toMatch(/<script>|<script type="module">/); // no inline script

    const script = await fetch(`${plain.url}/demo/app.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toContain('import("/herald.js")');
    const style = await fetch(`${plain.url}/demo/style.css`);
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");

    const head = await fetch(`${plain.url}/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await fetch(`${plain.url}/`, { method: "POST" })).status).toBe(405);
  });

  it("never puts data into the DOM as markup: the script uses textContent, not innerHTML", () => {
    const source = readFileSync(join(root, "gateway/demo/app.js"), "utf8");
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(source).toMatch(/textContent = JSON\.stringify\(notification\.data/);
  });
});

describe("POST /api/dev/token", () => {
  it("is off by default: 404 HERALD_NOT_FOUND", async () => {
    expect(readSettings({}).HERALD_DEV_TOKENS).toBe(false);
    const res = await devToken(plain.url, { userId: "alice" });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "HERALD_NOT_FOUND" });
  });

  it("when on, signs user tokens negotiate accepts, and publisher tokens the publish route accepts", async () => {
    const res = await devToken(dev.url, { userId: "alice", groups: ["ops"] });
    expect(res.status).toBe(200);
    const user = (await res.json()) as DevTokenResponse;
    const negotiate = await fetch(`${dev.url}/api/negotiate`, {
      method: "POST",
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(negotiate.status).toBe(200);
    const answer = (await negotiate.json()) as NegotiateResponse;
    expect(answer.userId).toBe("alice");
    expect(answer.groups).toEqual(["ops"]);
    expect(answer.transports.map((t) => t.name)).toEqual(["websocket", "sse", "long-polling"]);

    const publish = (token: string): Promise<Response> =>
      fetch(`${dev.url}/api/notifications`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "demo.message", to: { users: ["alice"] }, data: { text: "hi" } }),
      });
    const refused = await publish(user.token);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "HERALD_FORBIDDEN" });
    const publisher = (await (
      await devToken(dev.url, { userId: "demo-publisher", publish: true })
    ).json()) as DevTokenResponse;
    expect(publisher.roles).toEqual(["herald.publish"]);
    expect((await publish(publisher.token)).status).toBe(202);
  });

  it("answers bad requests with their codes", async () => {
    const cases: [Promise<Response>, number, string][] = [
      [devToken(dev.url, { userId: "" }), 400, "HERALD_INVALID_FIELD"],
      [devToken(dev.url, { userId: "a", admin: true }), 400, "HERALD_UNKNOWN_FIELD"],
      [devToken(dev.url, { userId: "a" }, "text/plain"), 415, "HERALD_UNSUPPORTED_MEDIA_TYPE"],
      [devToken(dev.url, { userId: "a", pad: "x".repeat(8000) }), 413, "HERALD_PAYLOAD_TOO_LARGE"],
      [fetch(`${dev.url}/api/dev/token`), 405, "HERALD_METHOD_NOT_ALLOWED"],
    ];
    for (const [response, status, code] of cases) {
      const res = await response;
      expect(res.status, code).toBe(status);
      expect(await res.json()).toMatchObject({ code });
    }
  });

  it("refuses to start when on without HERALD_JWT_SECRET", async () => {
    const env: Record<string, string> = { ...stack.env, HERALD_DEV_TOKENS: "true" };
    delete env.HERALD_JWT_SECRET;
    const err: unknown = await startGateway(readSettings(env), { log: silent }).then(
      async (g) => {
        await g.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isHeraldError(err) && err.code).toBe("HERALD_INVALID_CONFIG");
    expect(isHeraldError(err) && err.target).toBe("HERALD_DEV_TOKENS");
  });

  it("is turned on by local.settings.json (herald start) and by nothing deployed", () => {
    const local = JSON.parse(readFileSync(join(root, "local.settings.json"), "utf8")) as {
      Values: Record<string, string>;
    };
    expect(local.Values.HERALD_DEV_TOKENS).toBe("true");
    const deployed = [
      "Dockerfile",
      "azure.yaml",
      ...readdirSync(join(root, "bicep"), { recursive: true, encoding: "utf8" })
        .filter((f) => /\.(bicep|bicepparam|json)$/.test(f) && !f.includes(".cli"))
        .map((f) => join("bicep", f)),
    ];
    expect(deployed.length).toBeGreaterThan(3);
    for (const file of deployed)
      expect(readFileSync(join(root, file), "utf8"), file).not.toContain("HERALD_DEV_TOKENS");
  });
});
