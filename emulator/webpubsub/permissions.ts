/**
 * Group permissions of one connection, from its token's roles and from grant/revoke REST calls.
 * Roles: `webpubsub.joinLeaveGroup` / `webpubsub.sendToGroup` (any group), the same followed by
 * `.<group>` (that group: everything after the first dot past the role name, so group names may
 * contain dots), and `webpubsub.joinLeaveGroups.<pattern>` / `webpubsub.sendToGroups.<pattern>`
 * where `*` matches within a dot-separated segment, `**` across segments and `?` one character.
 */

export type Permission = "joinLeaveGroup" | "sendToGroup";

export const PERMISSIONS: readonly Permission[] = ["joinLeaveGroup", "sendToGroup"];

class Grant {
  all = false;
  groups: Set<string> | null = null;
  patterns: RegExp[] | null = null;
  /** Groups revoked while `all` or a pattern still covers them. */
  revoked: Set<string> | null = null;

  allows(group: string): boolean {
    if (this.revoked?.has(group)) return false;
    if (this.all || this.groups?.has(group)) return true;
    return this.patterns?.some((p) => p.test(group)) ?? false;
  }

  grant(group: string | undefined): void {
    if (group === undefined) {
      this.all = true;
      this.revoked = null;
      return;
    }
    (this.groups ??= new Set()).add(group);
    this.revoked?.delete(group);
  }

  revoke(group: string | undefined): void {
    if (group === undefined) {
      this.all = false;
      this.groups = null;
      this.patterns = null;
      this.revoked = null;
      return;
    }
    this.groups?.delete(group);
    if (this.all || this.patterns?.some((p) => p.test(group))) (this.revoked ??= new Set()).add(group);
  }

  /** `hasPermission` without a target asks about the any-group permission. */
  has(group: string | undefined): boolean {
    return group === undefined
      ? this.all && (this.revoked === null || this.revoked.size === 0)
      : this.allows(group);
  }
}

export class Permissions {
  private readonly joinLeave = new Grant();
  private readonly send = new Grant();

  /** Builds permissions from token roles; `null` when no role concerns groups (the common case). */
  static fromRoles(roles: readonly string[]): Permissions | null {
    let result: Permissions | null = null;
    for (const role of roles) {
      const parsed = parseRole(role);
      if (parsed === undefined) continue;
      result ??= new Permissions();
      const grant = parsed.permission === "joinLeaveGroup" ? result.joinLeave : result.send;
      if (parsed.pattern !== undefined) (grant.patterns ??= []).push(parsed.pattern);
      else grant.grant(parsed.group);
    }
    return result;
  }

  can(permission: Permission, group: string): boolean {
    return this.grantFor(permission).allows(group);
  }

  grant(permission: Permission, group: string | undefined): void {
    this.grantFor(permission).grant(group);
  }

  revoke(permission: Permission, group: string | undefined): void {
    this.grantFor(permission).revoke(group);
  }

  has(permission: Permission, group: string | undefined): boolean {
    return this.grantFor(permission).has(group);
  }

  private grantFor(permission: Permission): Grant {
    return permission === "joinLeaveGroup" ? this.joinLeave : this.send;
  }
}

function parseRole(
  role: string,
): { permission: Permission; group?: string | undefined; pattern?: RegExp | undefined } | undefined {
  for (const permission of PERMISSIONS) {
    const exact = `webpubsub.${permission}`;
    if (role === exact) return { permission };
    if (role.startsWith(`${exact}.`)) return { permission, group: role.slice(exact.length + 1) };
    const plural = `webpubsub.${permission}s.`;
    if (role.startsWith(plural) && role.length > plural.length)
      return { permission, pattern: compilePattern(role.slice(plural.length)) };
  }
  return undefined;
}

/** `*` = any run within a dot segment, `**` = any run, `?` = one character (not a dot). */
export function compilePattern(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        source += ".*";
        i++;
      } else {
        source += "[^.]*";
      }
    } else if (ch === "?") {
      source += "[^.]";
    } else {
      source += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`, "s");
}
