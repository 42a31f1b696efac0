/** Maps ATOM management request paths onto entities, the way the SDK builds them. */

export type Route =
  | { kind: "namespace" }
  | { kind: "list"; entity: "queues" | "topics" }
  /** A queue or a topic: they share one name space; `/` is allowed in their names. */
  | { kind: "entity"; name: string }
  | { kind: "subscriptions"; topic: string }
  | { kind: "subscription"; topic: string; name: string }
  | { kind: "rules"; topic: string; subscription: string }
  | { kind: "rule"; topic: string; subscription: string; name: string };

export class RouteError extends Error {
  override readonly name = "RouteError";
}

const same = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b;

/**
 * Parses the raw (still percent-encoded) path of a request URL, e.g.
 * `/mytopic/Subscriptions/sub/Rules/$Default`. Throws `RouteError` for paths no SDK call makes.
 */
export function parseRoute(rawPath: string): Route {
  if (!rawPath.startsWith("/")) throw new RouteError("the request path must start with '/'");
  let segments: string[];
  try {
    segments = rawPath.slice(1).split("/").map(decodeURIComponent);
  } catch {
    throw new RouteError("the request path is not percent-encoded correctly");
  }
  if (segments.length === 1 && segments[0] === "") throw new RouteError("the request path names no entity");

  if (segments.length === 1 && same(segments[0], "$namespaceinfo")) return { kind: "namespace" };
  if (same(segments[0], "$resources")) {
    const rest = trimTrailingEmpty(segments.slice(1));
    if (rest.length === 1 && same(rest[0], "queues")) return { kind: "list", entity: "queues" };
    if (rest.length === 1 && same(rest[0], "topics")) return { kind: "list", entity: "topics" };
    throw new RouteError("only $Resources/Queues and $Resources/Topics can be listed");
  }

  // The first "Subscriptions" segment after a topic name whose remainder has a valid shape.
  for (let i = 1; i < segments.length; i++) {
    if (!same(segments[i], "subscriptions")) continue;
    const topic = entityName(segments.slice(0, i));
    const rest = segments.slice(i + 1);
    const shape = trimTrailingEmpty(rest);
    if (shape.length === 0) return { kind: "subscriptions", topic };
    const subscription = shape[0] ?? "";
    if (subscription === "") continue;
    if (shape.length === 1 && rest.length === 1) return { kind: "subscription", topic, name: subscription };
    if (!same(shape[1], "rules")) continue;
    if (shape.length === 2) return { kind: "rules", topic, subscription };
    const rule = shape[2] ?? "";
    if (shape.length === 3 && rest.length === 3 && rule !== "")
      return { kind: "rule", topic, subscription, name: rule };
  }
  return { kind: "entity", name: entityName(segments) };
}

function trimTrailingEmpty(segments: string[]): string[] {
  return segments.length > 0 && segments[segments.length - 1] === "" ? segments.slice(0, -1) : segments;
}

function entityName(segments: string[]): string {
  if (segments.some((s) => s === "")) throw new RouteError("an entity path has an empty segment");
  return segments.join("/");
}
