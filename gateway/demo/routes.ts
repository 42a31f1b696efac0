import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { HeraldError } from "../../core/errors.js";
import type { Route } from "../http/server.js";
import { writeResponse } from "../http/node.js";
import { errorResponse } from "../http/errors.js";

/**
 * The demo page's files. They are plain static files, not compiled: next to this module when it runs
 * from source, and in the repository's gateway/demo/ when it runs from dist/ (the Dockerfile copies
 * the folder beside dist/).
 */
function demoDir(): string | undefined {
  for (const candidate of ["./", "../../../gateway/demo/"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

const FILES = [
  { path: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { path: "/demo/app.js", file: "app.js", type: "text/javascript; charset=utf-8" },
  { path: "/demo/style.css", file: "style.css", type: "text/css; charset=utf-8" },
] as const;

/**
 * No inline script or style, so notification data that slipped into the DOM as markup could not run.
 * `connect-src` allows other origins because the WebSocket goes to Web PubSub, not to the gateway.
 * No referrer: the transport URLs carry tokens.
 */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** `GET /` and its script and style: the demo page (docs/demo.md). */
export function demoRoutes(): Route[] {
  const dir = demoDir();
  return FILES.map(({ path, file, type }) => ({
    method: "GET",
    path,
    raw: async (req, res) => {
      req.resume();
      let body: Buffer;
      try {
        if (!dir) throw new Error("no demo folder");
        body = await readFile(`${dir}${file}`);
      } catch {
        writeResponse(
          res,
          errorResponse(new HeraldError("HERALD_NOT_FOUND", `the demo page's ${file} is not installed`)),
        );
        return;
      }
      res.writeHead(200, { ...HEADERS, "content-type": type, "content-length": String(body.length) });
      res.end(req.method === "HEAD" ? undefined : body);
    },
  }));
}
