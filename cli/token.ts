import { parseArgs } from "node:util";
import { HeraldError } from "../core/errors.js";
import { usageError, type Command } from "./command.js";
import { cliSetting } from "./settings.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_EXPIRES_SECONDS = 30 * 86400;

/** `90`, `90s`, `15m`, `2h`, `7d` -> seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value);
  const seconds = m ? Number(m[1]) * UNITS[m[2] || "s"]! : NaN;
  if (!(seconds >= 1 && seconds <= MAX_EXPIRES_SECONDS)) {
    usageError(`${flag} must be a duration from 1s to 30d like 3600, 15m, 2h or 7d, got "${value}"`, flag);
  }
  return seconds;
}

export const tokenCommand: Command = {
  path: ["token"],
  summary: "Print a development JWT for a user (or a publishing credential)",
  usage: `Usage: herald token --user U [--groups a,b] [--expires 1h]
       herald token --publisher [--user NAME] [--expires 1h]

Signs a JWT with the local HS256 secret (HERALD_JWT_SECRET, then local.settings.json) and prints it
alone on the last line of stdout; a summary goes to stderr. Use it with POST /api/negotiate, or with
\`herald tail\`. Development only: in Azure the identity provider issues the tokens.

Options:
  --user U          the user id (sub claim); required unless --publisher
  --groups a,b      the user's groups (comma-separated)
  --publisher       a JWT carrying the publish role (HERALD_JWT_PUBLISH_ROLE, default herald.publish),
                    accepted by POST /api/notifications and \`herald publish --gateway … --token\`
  --expires D       lifetime: seconds, or 15m, 2h, 7d (default 1h, at most 30d)

Example:
  TOKEN=$(herald token --user alice --groups ops,admins)`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        user: { type: "string" },
        groups: { type: "string" },
        publisher: { type: "boolean" },
        expires: { type: "string" },
      },
    });
    if (positionals.length > 0) usageError(`unexpected argument "${positionals[0]}"`, positionals[0]);
    const userId = values.user ?? (values.publisher ? "publisher" : undefined);
    if (userId === undefined) usageError("--user is required, e.g. --user alice", "--user");
    // eslint-disable-next-line no-control-regex
    if (!/^[^\u0000-\u001f\u007f]{1,128}$/.test(userId))
      usageError("--user must be 1 to 128 printable characters", "--user");
    const groups = (values.groups ?? "")
      .split(",")
      .map((g) => g.trim())
      .filter((g) => g !== "");
    for (const g of groups) {
      // eslint-disable-next-line no-control-regex
      if (!/^[^\u0000-\u001f\u007f]{1,128}$/.test(g))
        usageError("each of --groups must be 1 to 128 printable characters", "--groups");
    }
    const expiresInSeconds = values.expires === undefined ? 3600 : parseDuration(values.expires, "--expires");
    const secret = cliSetting("HERALD_JWT_SECRET");
    if (!secret) {
      throw new HeraldError(
        "HERALD_INVALID_CONFIG",
        "HERALD_JWT_SECRET is not set (environment or local.settings.json)",
        {
          target: "HERALD_JWT_SECRET",
        },
      );
    }
    const roles = values.publisher ? [cliSetting("HERALD_JWT_PUBLISH_ROLE") ?? "herald.publish"] : [];
    const { signDevToken } = await import("../gateway/auth/tokens.js");
    const token = await signDevToken(secret, { userId, groups, roles, expiresInSeconds });
    const expires = new Date(Date.now() + expiresInSeconds * 1000).toISOString();
    process.stderr.write(
      `# user ${userId}${groups.length ? `, groups ${groups.join(",")}` : ""}${roles.length ? `, roles ${roles.join(",")}` : ""}; expires ${expires}\n`,
    );
    process.stdout.write(`${token}\n`);
    return 0;
  },
};
