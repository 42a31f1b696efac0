// The Functions host loads package.json `main` (the built functions/index.ts): loading must only
// register the functions, connecting to nothing, and a bad setting must stop it with a clear error.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { main: string };
const local = JSON.parse(readFileSync(new URL("../local.settings.json", import.meta.url), "utf8")) as {
  Values: Record<string, string>;
};

/** Loads the entry in a fresh Node process (outside the host: @azure/functions runs in test mode). */
function load(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const script = `import(${JSON.stringify(`./${pkg.main}`)}).catch((e) => { console.error(e.code ?? "", e.message); process.exit(3); })`;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["-e", script],
      { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 },
      (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
}

describe("Functions entry point", () => {
  it("is package.json main, built to dist/functions/index.js", () => {
    expect(pkg.main).toBe("dist/functions/index.js");
    expect(existsSync(new URL(`../${pkg.main}`, import.meta.url))).toBe(true);
  });

  it("registers the three functions and exits: loading starts no connection or timer", async () => {
    const { code, stderr } = await load(local.Values);
    expect(code).toBe(0);
    for (const name of ["publish", "negotiate", "fanout"]) {
      expect(stderr).toContain(`register function "${name}"`);
    }
  });

  it("stops with HERALD_INVALID_CONFIG naming a bad setting", async () => {
    const { code, stderr } = await load({ ...local.Values, HERALD_STORE: "cosmos" });
    expect(code).toBe(3);
    expect(stderr).toMatch(/HERALD_INVALID_CONFIG HERALD_STORE: must be one of memory, table/);
  });
});
