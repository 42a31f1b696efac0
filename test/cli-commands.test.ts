/**
 * Every command's --help and bad input, through the built CLI in a child process: errors are one
 * line `herald: CODE: message` on stderr with a non-zero exit.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { commands } from "../cli/commands.js";
import { createTokenVerifier } from "../gateway/auth/tokens.js";
import { runHerald } from "./helpers/cli.js";

const LOCAL_SECRET = "herald-local-development-secret-not-for-production";
const NO_BUS =
  "Endpoint=sb://localhost:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;";

/** A loopback port that nothing listens on (a server took it, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function expectOneLineError(
  r: { code: number | null; stderr: string },
  code: string,
  pattern?: RegExp,
): void {
  expect(r.code, r.stderr).not.toBe(0);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^herald: ${code}: \\S`));
  if (pattern) expect(lines[0]).toMatch(pattern);
}

describe("herald <command> --help", () => {
  it.each(commands.map((c) => [c.path.join(" ")]))("herald %s --help prints its usage", async (path) => {
    const r = await runHerald([...path.split(" "), "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: herald ${path}`));
    expect(r.stderr).toBe("");
  });

  it("lists every command in the overview", async () => {
    const r = await runHerald(["--help"]);
    for (const c of commands) expect(r.stdout).toContain(`herald ${c.path.join(" ")}`);
  });
});

describe("bad input answers with one line and a non-zero exit", () => {
  it.each([
    [["start", "--port", "abc"], "HERALD_USAGE", /--port must be a port number/],
    [["start", "--memory", "--frobnicate"], "HERALD_USAGE", /Unknown option '--frobnicate'/],
    [["gateway", "--port", "70000"], "HERALD_USAGE", /--port/],
    [["gateway", "--bogus"], "HERALD_USAGE", /--bogus/],
    [["emulator", "servicebus", "--management-port", "x"], "HERALD_USAGE", /--management-port/],
    [["emulator", "webpubsub", "--port", "-1"], "HERALD_USAGE", undefined],
    [["publish", "--broadcast", "1"], "HERALD_USAGE", /--type is required/],
    [["publish", "--type", "a", "1"], "HERALD_USAGE", /name a target/],
    [["publish", "--type", "a b", "--broadcast", "1"], "HERALD_INVALID_TYPE", /type must be/],
    [["publish", "--type", "a", "--broadcast", "not json"], "HERALD_MALFORMED_JSON", /JSON quotes/],
    [["publish", "--type", "a", "--broadcast"], "HERALD_USAGE", /no data/],
    [["publish", "--type", "a", "--broadcast", "--ttl", "0", "1"], "HERALD_USAGE", /--ttl/],
    [["publish", "--type", "a", "--user", "", "1"], "HERALD_INVALID_FIELD", /to\.users\[0\]/],
    [
      ["publish", "--type", "a", "--broadcast", "--deliver-at", "tomorrow", "1"],
      "HERALD_INVALID_FIELD",
      /deliverAt/,
    ],
    [["publish", "--type", "a", "--broadcast", "--key", "k", "1"], "HERALD_USAGE", /--gateway/],
    [["publish", "--type", "a", "--broadcast", "1", "2"], "HERALD_USAGE", /one DATA argument/],
    [
      ["publish", "--type", "a", "--broadcast", "--servicebus", "nonsense", "1"],
      "HERALD_USAGE",
      /Endpoint=sb/,
    ],
    [["publish", "--type", "a", "--broadcast", "--gateway", "ftp://x", "1"], "HERALD_USAGE", /http\(s\)/],
    [["token"], "HERALD_USAGE", /--user is required/],
    [["token", "--user", "a", "--expires", "forever"], "HERALD_USAGE", /--expires/],
    [["token", "--user", "a", "--expires", "31d"], "HERALD_USAGE", /--expires/],
    [["token", "--user", "a", "extra"], "HERALD_USAGE", /unexpected argument/],
    [["dlq", "replay"], "HERALD_USAGE", /--id ID or --all/],
    [["dlq", "replay", "--all", "--id", "x"], "HERALD_USAGE", /not both/],
    [["dlq", "list", "--max", "0"], "HERALD_USAGE", /--max/],
    [["dlq"], "HERALD_USAGE", /unknown command "dlq"/],
  ] as [string[], string, RegExp | undefined][])("herald %j -> %s", async (args, code, pattern) => {
    expectOneLineError(await runHerald(args), code, pattern);
  });

  it("data over the size limit on stdin is refused", async () => {
    const r = await runHerald(["publish", "--type", "a", "--broadcast"], {
      input: JSON.stringify("x".repeat(1024 * 1024 + 10)),
    });
    expectOneLineError(r, "HERALD_PAYLOAD_TOO_LARGE");
  });

  it("a gateway or Service Bus that is not there is named, fast", async () => {
    const port = await closedPort();
    const http = await runHerald([
      "publish",
      "--type",
      "a",
      "--broadcast",
      "--gateway",
      `http://127.0.0.1:${port}`,
      "1",
    ]);
    expectOneLineError(http, "HERALD_UNREACHABLE", new RegExp(`gateway at http://127.0.0.1:${port}`));
    const bus = await runHerald(["publish", "--type", "a", "--broadcast", "--servicebus", NO_BUS, "1"]);
    expectOneLineError(bus, "HERALD_UNREACHABLE", /Service Bus at sb:\/\/localhost:1 /);
    expect(bus.stderr).not.toContain("SharedAccessKey=v");
    expectOneLineError(await runHerald(["dlq", "list", "--servicebus", NO_BUS]), "HERALD_UNREACHABLE");
  });
});

describe("herald token", () => {
  const verifier = createTokenVerifier({ secret: LOCAL_SECRET });

  it("prints a JWT for the user and groups alone on the last line, signed with the local secret", async () => {
    const r = await runHerald(["token", "--user", "alice", "--groups", "ops, admins", "--expires", "15m"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await verifier.verify(lines.at(-1)!)).toEqual({
      userId: "alice",
      groups: ["ops", "admins"],
      roles: [],
    });
    const payload = JSON.parse(Buffer.from(lines.at(-1)!.split(".")[1]!, "base64url").toString()) as {
      exp: number;
      iat: number;
    };
    expect(payload.exp - payload.iat).toBe(900);
  });

  it("--publisher carries the publish role", async () => {
    const r = await runHerald(["token", "--publisher"]);
    expect(r.code).toBe(0);
    expect(await verifier.verify(r.stdout.trim())).toMatchObject({ roles: ["herald.publish"] });
  });
});
