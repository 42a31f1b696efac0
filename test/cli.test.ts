import { describe, expect, it } from "vitest";
import { runHerald } from "./helpers/cli.js";

describe("herald CLI", () => {
  it("lists its commands with --help", async () => {
    const r = await runHerald(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/herald emulator servicebus/);
  });

  it("rejects an unknown command with one line and exit 2", async () => {
    const r = await runHerald(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/HERALD_USAGE: unknown command "frobnicate"/);
  });

  it("rejects a bad option value with the flag named", async () => {
    const r = await runHerald(["emulator", "servicebus", "--port", "99999"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port must be a port number/);
  });

  it("prints a command's usage with --help", async () => {
    const r = await runHerald(["emulator", "servicebus", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--data-dir DIR/);
  });
});
