import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { HeraldError } from "../../core/errors.js";
import { errorResponse } from "./errors.js";
import { writeResponse } from "./node.js";

/**
 * Where `npm run build` writes the browser bundle: `dist/herald.js`. From the compiled gateway
 * (`dist/gateway/http/`) it is two folders up; from the sources (tests run them) it is under `dist/`.
 */
const CANDIDATES = [
  new URL("../../herald.js", import.meta.url),
  new URL("../../dist/herald.js", import.meta.url),
];

interface Bundle {
  body: Buffer;
  etag: string;
}

/**
 * `GET /herald.js`: the client library as one ES module (`import { connect } from "/herald.js"`).
 * Cached by browsers for 5 minutes, then revalidated by ETag; any origin may import it (it is public
 * code, and a cross-origin module script needs CORS). 404 when the bundle was not built.
 */
export function clientBundleRoute(): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  let loaded: Promise<Bundle | undefined> | undefined;
  const load = async (): Promise<Bundle | undefined> => {
    for (const url of CANDIDATES) {
      try {
        const body = await readFile(fileURLToPath(url));
        return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
      } catch {
        // try the next place
      }
    }
    return undefined;
  };
  return async (req, res) => {
    loaded ??= load();
    const bundle = await loaded;
    if (!bundle) {
      loaded = undefined; // built later: look again next time
      writeResponse(
        res,
        errorResponse(
          new HeraldError("HERALD_NOT_FOUND", "the client bundle is not built; run `npm run build`"),
        ),
      );
      return;
    }
    const headers = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=300, must-revalidate",
      etag: bundle.etag,
      "access-control-allow-origin": "*",
      "x-content-type-options": "nosniff",
    };
    if (req.headers["if-none-match"] === bundle.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, "content-length": String(bundle.body.length) });
    res.end(req.method === "HEAD" ? undefined : bundle.body);
  };
}
