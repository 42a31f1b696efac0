import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HeraldError } from "../core/errors.js";

/** The repository root (this file runs from dist/cli/). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

let cached: Record<string, string> | undefined;

/**
 * The `Values` of local.settings.json: the local stack's settings (the same file the Functions host
 * reads). Empty when the file is absent, e.g. in an installed package or a container.
 */
export function localSettings(): Record<string, string> {
  if (cached) return cached;
  const file = join(ROOT, "local.settings.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return (cached = {});
  }
  try {
    const parsed = JSON.parse(text) as { Values?: Record<string, string> };
    return (cached = parsed.Values ?? {});
  } catch (err) {
    throw new HeraldError("HERALD_INVALID_CONFIG", `${file} is not valid JSON: ${(err as Error).message}`, {
      target: file,
    });
  }
}

/** A setting for the CLI: the environment first, then local.settings.json. */
export function cliSetting(name: string): string | undefined {
  const fromEnv = process.env[name];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const local = localSettings()[name];
  return local === undefined || local === "" ? undefined : local;
}
