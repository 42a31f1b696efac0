import { isHeraldError } from "../core/errors.js";
import type { Command } from "./command.js";
import { commands } from "./commands.js";

function overview(): string {
  const width = Math.max(...commands.map((c) => c.path.join(" ").length));
  const lines = commands.map((c) => `  herald ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
  return [
    "Usage: herald <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `herald <command> --help` for a command's options.",
  ].join("\n");
}

function find(argv: string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.path.every((word, i) => argv[i] === word) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best && { command: best, rest: argv.slice(best.path.length) };
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(overview() + "\n");
    return argv.length === 0 ? 1 : 0;
  }
  const found = find(argv);
  if (!found) {
    process.stderr.write(
      `herald: HERALD_USAGE: unknown command "${argv.join(" ")}"; run \`herald --help\`\n`,
    );
    return 2;
  }
  if (found.rest.includes("--help") || found.rest.includes("-h")) {
    process.stdout.write(found.command.usage.trimEnd() + "\n");
    return 0;
  }
  try {
    return await found.command.run(found.rest);
  } catch (err) {
    if (isHeraldError(err)) {
      process.stderr.write(`herald: ${err.code}: ${err.message.replace(/\s+/g, " ").trim()}\n`);
      return err.code === "HERALD_USAGE" ? 2 : 1;
    }
    // node:util parseArgs rejects unknown options and missing values with ERR_PARSE_ARGS_*.
    const code = err instanceof Error && "code" in err ? String(err.code) : "";
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
    if (code.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(
        `herald: HERALD_USAGE: ${message}; run \`herald ${found.command.path.join(" ")} --help\`\n`,
      );
      return 2;
    }
    process.stderr.write(`herald: HERALD_INTERNAL: ${message}\n`);
    return 1;
  }
}
