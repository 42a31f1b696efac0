/**
 * One management request in, one response out: authorization, routing, the entity manager
 * call, and the translation of every failure into the status and `<Error>` document from which
 * `ServiceBusAdministrationClient` derives its error codes. No sockets here (see server.ts).
 */
import { randomUUID } from "node:crypto";
import {
  DEFAULT_QUEUE_OPTIONS,
  DEFAULT_SUBSCRIPTION_OPTIONS,
  DEFAULT_TOPIC_OPTIONS,
  EntityError,
  type EntityManager,
  type QueueOptions,
  type RuleDescription,
  type SubscriptionOptions,
  type TopicOptions,
} from "../model.js";
import {
  BodyError,
  errorElement,
  feed,
  namespaceEntry,
  parseEntityBody,
  queueEntry,
  ruleEntry,
  subscriptionEntry,
  topicEntry,
  type EntityBody,
  type WriteContext,
} from "./atom.js";
import { checkAuthorization } from "./auth.js";
import { parseRoute, RouteError, type Route } from "./routes.js";
import { xmlDocument, type XmlFragment } from "./xml.js";

export interface ManagementRequest {
  method: string;
  /** Path and query as received, e.g. `/q1?api-version=2021-05`. */
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Uint8Array;
}

export interface ManagementResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface HandlerContext {
  manager: EntityManager;
  /** Reported as the namespace's creation time. */
  startedAt: Date;
  /** Called with unexpected errors (the client gets a 500 without details). */
  onInternalError: (error: unknown, request: { method: string; path: string; trackingId: string }) => void;
}

/** The service's default and largest page size for list operations. */
export const MAX_PAGE_SIZE = 100;

const ENTRY_TYPE = "application/atom+xml;type=entry;charset=utf-8";
const FEED_TYPE = "application/atom+xml;type=feed;charset=utf-8";
const ERROR_TYPE = "application/xml; charset=utf-8";
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An `<Error>` response; `detail` becomes the SDK error's message. */
export function errorResponse(
  status: number,
  detail: string,
  trackingId: string = randomUUID(),
): ManagementResponse {
  const text = detail.length > 1000 ? `${detail.slice(0, 1000)}…` : detail;
  const body = errorElement(
    status,
    `${text} TrackingId:${trackingId}, Timestamp:${new Date().toISOString()}`,
  );
  return { status, headers: { "content-type": ERROR_TYPE }, body: xmlDocument(body) };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const badRequest = (message: string): HttpError => new HttpError(400, `SubCode=40000. ${message}`);

export function handleManagementRequest(ctx: HandlerContext, req: ManagementRequest): ManagementResponse {
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const clientId = header("x-ms-client-request-id");
  const trackingId = clientId && /^[A-Za-z0-9-]{1,64}$/.test(clientId) ? clientId : randomUUID();
  const queryAt = req.url.indexOf("?");
  const rawPath = queryAt < 0 ? req.url : req.url.slice(0, queryAt);
  const method = req.method.toUpperCase();

  try {
    const auth = checkAuthorization(header("authorization"), Date.now());
    if (!auth.ok) throw new HttpError(401, auth.reason);

    let route: Route;
    try {
      route = parseRoute(rawPath);
    } catch (err) {
      if (err instanceof RouteError) throw badRequest(`${err.message}.`);
      throw err;
    }
    const query = new URLSearchParams(queryAt < 0 ? "" : req.url.slice(queryAt + 1));
    const hostHeader = header("host");
    const wctx: WriteContext = {
      host: hostHeader !== undefined && HOST.test(hostHeader) ? hostHeader : "localhost",
      now: new Date(),
    };
    const op = new Operation(ctx.manager, wctx, ctx.startedAt);

    const allowed =
      route.kind === "entity" || route.kind === "subscription" || route.kind === "rule"
        ? "GET, PUT, DELETE"
        : "GET";
    if (!allowed.split(", ").includes(method))
      throw new HttpError(405, `The ${method} method is not supported for this resource.`, {
        allow: allowed,
      });

    if (method === "GET") return op.get(route, query);
    if (method === "DELETE") return op.delete(route);
    let text: string;
    try {
      text = utf8.decode(req.body);
    } catch {
      throw badRequest("The request body is not valid UTF-8.");
    }
    return op.put(route, parseEntityBody(text), header("if-match") !== undefined);
  } catch (err) {
    if (err instanceof HttpError) {
      const response = errorResponse(err.status, err.message, trackingId);
      Object.assign(response.headers, err.headers);
      return response;
    }
    if (err instanceof BodyError) return errorResponse(400, `SubCode=40000. ${err.message}.`, trackingId);
    if (err instanceof EntityError) {
      switch (err.code) {
        case "NotFound":
          return errorResponse(404, err.message, trackingId);
        case "AlreadyExists":
          return errorResponse(409, err.message, trackingId);
        case "BadRequest":
          return errorResponse(400, `SubCode=40000. ${err.message}`, trackingId);
        case "QuotaExceeded":
          return errorResponse(403, `SubCode=40300. ${err.message}`, trackingId);
      }
    }
    ctx.onInternalError(err, { method, path: rawPath.slice(0, 300), trackingId });
    return errorResponse(500, "The emulator failed to process the request.", trackingId);
  }
}

/** The operations of one request, with what every entry needs to be written. */
class Operation {
  constructor(
    private readonly manager: EntityManager,
    private readonly ctx: WriteContext,
    private readonly startedAt: Date,
  ) {}

  get(route: Route, query: URLSearchParams): ManagementResponse {
    const m = this.manager;
    switch (route.kind) {
      case "namespace":
        return entryResponse(200, namespaceEntry(this.ctx, this.startedAt));
      case "list":
        return route.entity === "queues"
          ? this.page("Queues", "$Resources/Queues", query, m.listQueues(), (q) => this.queue(q.name))
          : this.page("Topics", "$Resources/Topics", query, m.listTopics(), (t) => this.topic(t.name));
      case "subscriptions":
        return this.page(
          "Subscriptions",
          `${route.topic}/Subscriptions`,
          query,
          m.listSubscriptions(route.topic),
          (s) => this.subscription(route.topic, s.name),
        );
      case "rules": {
        const rules = m.listRules(route.topic, route.subscription);
        const topic = this.topicName(route.topic);
        const subscription = this.subscriptionName(route.topic, route.subscription);
        const path = `${route.topic}/Subscriptions/${route.subscription}/Rules`;
        return this.page("Rules", path, query, rules, (r) => ruleEntry(this.ctx, topic, subscription, r));
      }
      case "entity": {
        if (m.getQueue(route.name)) return entryResponse(200, this.queue(route.name));
        if (m.getTopic(route.name)) return entryResponse(200, this.topic(route.name));
        throw this.notFound(route.name);
      }
      case "subscription":
        if (!m.getSubscription(route.topic, route.name))
          throw this.notFound(`${route.topic}/Subscriptions/${route.name}`);
        return entryResponse(200, this.subscription(route.topic, route.name));
      case "rule": {
        const rule = m.getRule(route.topic, route.subscription, route.name);
        if (!rule)
          throw this.notFound(`${route.topic}/Subscriptions/${route.subscription}/Rules/${route.name}`);
        return entryResponse(
          200,
          ruleEntry(
            this.ctx,
            this.topicName(route.topic),
            this.subscriptionName(route.topic, route.subscription),
            rule,
          ),
        );
      }
    }
  }

  put(route: Route, body: EntityBody, isUpdate: boolean): ManagementResponse {
    const m = this.manager;
    const status = isUpdate ? 200 : 201;
    switch (route.kind) {
      case "entity":
        if (body.kind === "queue") {
          const name = isUpdate
            ? m.updateQueue(route.name, this.queueUpdate(route.name, body.options)).name
            : m.createQueue(route.name, body.options).name;
          return entryResponse(status, this.queue(name));
        }
        if (body.kind === "topic") {
          const name = isUpdate
            ? m.updateTopic(route.name, this.topicUpdate(route.name, body.options)).name
            : m.createTopic(route.name, body.options).name;
          return entryResponse(status, this.topic(name));
        }
        throw badRequest(`A ${describe(body)} cannot be stored at a queue or topic path.`);
      case "subscription": {
        if (body.kind !== "subscription")
          throw badRequest(`A ${describe(body)} cannot be stored at a subscription path.`);
        const name = isUpdate
          ? m.updateSubscription(
              route.topic,
              route.name,
              this.subscriptionUpdate(route.topic, route.name, body.options),
            ).name
          : m.createSubscription(route.topic, route.name, body.options, body.defaultRule).name;
        return entryResponse(status, this.subscription(route.topic, name));
      }
      case "rule": {
        if (body.kind !== "rule") throw badRequest(`A ${describe(body)} cannot be stored at a rule path.`);
        if (body.name !== undefined && body.name.toLowerCase() !== route.name.toLowerCase())
          throw badRequest(
            `The rule name '${body.name}' in the body differs from '${route.name}' in the path.`,
          );
        const rule: RuleDescription = { name: route.name, filter: body.filter };
        if (body.action) rule.action = body.action;
        const saved = isUpdate
          ? m.updateRule(route.topic, route.subscription, rule)
          : m.createRule(route.topic, route.subscription, rule);
        return entryResponse(
          status,
          ruleEntry(
            this.ctx,
            this.topicName(route.topic),
            this.subscriptionName(route.topic, route.subscription),
            saved,
          ),
        );
      }
      default:
        throw new HttpError(405, "This resource cannot be written.", { allow: "GET" });
    }
  }

  delete(route: Route): ManagementResponse {
    const m = this.manager;
    switch (route.kind) {
      case "entity":
        if (m.getQueue(route.name)) m.deleteQueue(route.name);
        else if (m.getTopic(route.name)) m.deleteTopic(route.name);
        else throw this.notFound(route.name);
        break;
      case "subscription":
        m.deleteSubscription(route.topic, route.name);
        break;
      case "rule":
        m.deleteRule(route.topic, route.subscription, route.name);
        break;
      default:
        throw new HttpError(405, "This resource cannot be deleted.", { allow: "GET" });
    }
    return { status: 200, headers: {}, body: "" };
  }

  /**
   * An update replaces the description, as on Azure: what the body leaves out returns to its
   * default, except the properties that cannot change after creation.
   */
  private queueUpdate(name: string, given: Partial<QueueOptions>): QueueOptions {
    const current = this.manager.getQueue(name);
    if (!current) throw this.notFound(name);
    immutable("RequiresSession", "Queue", current.options.requiresSession, given.requiresSession);
    immutable(
      "RequiresDuplicateDetection",
      "Queue",
      current.options.requiresDuplicateDetection,
      given.requiresDuplicateDetection,
    );
    return {
      ...DEFAULT_QUEUE_OPTIONS,
      forwardTo: undefined,
      forwardDeadLetteredMessagesTo: undefined,
      userMetadata: undefined,
      requiresSession: current.options.requiresSession,
      requiresDuplicateDetection: current.options.requiresDuplicateDetection,
      ...given,
    };
  }

  private topicUpdate(name: string, given: Partial<TopicOptions>): TopicOptions {
    const current = this.manager.getTopic(name);
    if (!current) throw this.notFound(name);
    immutable(
      "RequiresDuplicateDetection",
      "Topic",
      current.options.requiresDuplicateDetection,
      given.requiresDuplicateDetection,
    );
    return {
      ...DEFAULT_TOPIC_OPTIONS,
      userMetadata: undefined,
      requiresDuplicateDetection: current.options.requiresDuplicateDetection,
      ...given,
    };
  }

  private subscriptionUpdate(
    topic: string,
    name: string,
    given: Partial<SubscriptionOptions>,
  ): SubscriptionOptions {
    const current = this.manager.getSubscription(topic, name);
    if (!current) throw this.notFound(`${topic}/Subscriptions/${name}`);
    immutable("RequiresSession", "Subscription", current.options.requiresSession, given.requiresSession);
    return {
      ...DEFAULT_SUBSCRIPTION_OPTIONS,
      forwardTo: undefined,
      forwardDeadLetteredMessagesTo: undefined,
      userMetadata: undefined,
      requiresSession: current.options.requiresSession,
      ...given,
    };
  }

  private page<T extends { name: string }>(
    title: string,
    path: string,
    query: URLSearchParams,
    items: T[],
    toEntry: (item: T) => XmlFragment,
  ): ManagementResponse {
    const skip = pagingParameter(query, "$skip", 0, 0);
    const top = Math.min(pagingParameter(query, "$top", MAX_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    // Sorted by name so pages are stable while entities come and go.
    const sorted = [...items].sort((a, b) => compareNames(a.name, b.name));
    const entries = sorted.slice(skip, skip + top).map(toEntry);
    return {
      status: 200,
      headers: { "content-type": FEED_TYPE },
      body: xmlDocument(feed(this.ctx, title, path, { skip, top, total: sorted.length }, entries)),
    };
  }

  private queue(name: string): XmlFragment {
    const queue = this.manager.getQueue(name);
    if (!queue) throw this.notFound(name);
    return queueEntry(this.ctx, queue, this.manager.queueRuntime(queue.name));
  }

  private topic(name: string): XmlFragment {
    const topic = this.manager.getTopic(name);
    if (!topic) throw this.notFound(name);
    return topicEntry(this.ctx, topic, this.manager.topicRuntime(topic.name));
  }

  private subscription(topic: string, name: string): XmlFragment {
    const subscription = this.manager.getSubscription(topic, name);
    if (!subscription) throw this.notFound(`${topic}/Subscriptions/${name}`);
    const topicName = this.topicName(topic);
    return subscriptionEntry(
      this.ctx,
      topicName,
      subscription,
      this.manager.subscriptionRuntime(topicName, subscription.name),
    );
  }

  /** Names as stored (lookups are case-insensitive; entries carry the stored spelling). */
  private topicName(topic: string): string {
    return this.manager.getTopic(topic)?.name ?? topic;
  }

  private subscriptionName(topic: string, name: string): string {
    return this.manager.getSubscription(topic, name)?.name ?? name;
  }

  private notFound(path: string): HttpError {
    return new HttpError(404, `The messaging entity 'sb://${this.ctx.host}/${path}' could not be found.`);
  }
}

function entryResponse(status: number, entry: XmlFragment): ManagementResponse {
  return { status, headers: { "content-type": ENTRY_TYPE }, body: xmlDocument(entry) };
}

function immutable(property: string, entity: string, current: boolean, given: boolean | undefined): void {
  if (given !== undefined && given !== current)
    throw badRequest(`The value for the ${property} property of an existing ${entity} cannot be changed.`);
}

function pagingParameter(query: URLSearchParams, name: string, fallback: number, min: number): number {
  const text = query.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!/^\d{1,9}$/.test(text) || value < min)
    throw badRequest(`The ${name} query parameter must be an integer >= ${min}.`);
  return value;
}

function compareNames(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

function describe(body: EntityBody): string {
  return {
    queue: "QueueDescription",
    topic: "TopicDescription",
    subscription: "SubscriptionDescription",
    rule: "RuleDescription",
  }[body.kind];
}
