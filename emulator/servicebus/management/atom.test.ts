import { describe, expect, it } from "vitest";
import {
  DEFAULT_QUEUE_OPTIONS,
  DEFAULT_SUBSCRIPTION_OPTIONS,
  DEFAULT_TOPIC_OPTIONS,
  MAX_TIMESPAN_MS,
  type EntityRuntimeCounts,
} from "../model.js";
import {
  BodyError,
  errorElement,
  feed,
  namespaceEntry,
  namespaceName,
  parseEntityBody,
  queueEntry,
  ruleEntry,
  subscriptionEntry,
  topicEntry,
  type WriteContext,
} from "./atom.js";
import { attributeOf, childElements, childNamed, parseXml, textOf, type XmlElement } from "./xml.js";

// Request bodies exactly as @azure/service-bus 7.9.5 sends them (captured from the wire).
const ENTRY = (description: string): string =>
  `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><entry xmlns="http://www.w3.org/2005/Atom"><updated>2025-01-01T00:00:00.000Z</updated><content type="application/xml">${description}</content></entry>`;
const NS = `xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"`;
const SDK_QUEUE = ENTRY(
  `<QueueDescription ${NS}><LockDuration>PT30S</LockDuration><MaxSizeInMegabytes>2048</MaxSizeInMegabytes><RequiresDuplicateDetection>true</RequiresDuplicateDetection><RequiresSession>false</RequiresSession><DefaultMessageTimeToLive>P2D</DefaultMessageTimeToLive><DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration><DuplicateDetectionHistoryTimeWindow>PT2M</DuplicateDetectionHistoryTimeWindow><MaxDeliveryCount>5</MaxDeliveryCount><EnableBatchedOperations>false</EnableBatchedOperations><Status>SendDisabled</Status><ForwardTo>sb://localhost/other</ForwardTo><UserMetadata>a&lt;b&amp;c</UserMetadata><AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle><EnablePartitioning>false</EnablePartitioning><ForwardDeadLetteredMessagesTo>dlq</ForwardDeadLetteredMessagesTo><EntityAvailabilityStatus>Available</EntityAvailabilityStatus><EnableExpress>false</EnableExpress><MaxMessageSizeInKilobytes>1024</MaxMessageSizeInKilobytes></QueueDescription>`,
);
const SDK_TOPIC = ENTRY(
  `<TopicDescription ${NS}><DefaultMessageTimeToLive>PT1H</DefaultMessageTimeToLive><RequiresDuplicateDetection>true</RequiresDuplicateDetection><SupportOrdering>false</SupportOrdering><UserMetadata></UserMetadata></TopicDescription>`,
);
const SDK_SUBSCRIPTION = ENTRY(
  `<SubscriptionDescription ${NS}><LockDuration>PT5M</LockDuration><DefaultRuleDescription><Filter p4:type="CorrelationFilter" xmlns:p4="http://www.w3.org/2001/XMLSchema-instance"><CorrelationId>c</CorrelationId><Label>l</Label><Properties><KeyValueOfstringanyType><Key>a</Key><Value p4:type="l28:double" xmlns:l28="http://www.w3.org/2001/XMLSchema">1</Value></KeyValueOfstringanyType><KeyValueOfstringanyType><Key>b</Key><Value p4:type="l28:string" xmlns:l28="http://www.w3.org/2001/XMLSchema">x</Value></KeyValueOfstringanyType><KeyValueOfstringanyType><Key>c</Key><Value p4:type="l28:boolean" xmlns:l28="http://www.w3.org/2001/XMLSchema">true</Value></KeyValueOfstringanyType><KeyValueOfstringanyType><Key>d</Key><Value p4:type="l28:dateTime" xmlns:l28="http://www.w3.org/2001/XMLSchema">1970-01-01T00:00:00.000Z</Value></KeyValueOfstringanyType></Properties></Filter><Action p4:type="SqlRuleAction" xmlns:p4="http://www.w3.org/2001/XMLSchema-instance"><SqlExpression>SET a = @p</SqlExpression><Parameters><KeyValueOfstringanyType><Key>@p</Key><Value p4:type="l28:double" xmlns:l28="http://www.w3.org/2001/XMLSchema">2.5</Value></KeyValueOfstringanyType></Parameters></Action><Name>r</Name></DefaultRuleDescription><MaxDeliveryCount>3</MaxDeliveryCount><Status>ReceiveDisabled</Status></SubscriptionDescription>`,
);
const SDK_RULE = ENTRY(
  `<RuleDescription ${NS}><Filter p4:type="SqlFilter" xmlns:p4="http://www.w3.org/2001/XMLSchema-instance"><SqlExpression>a = @x</SqlExpression><Parameters><KeyValueOfstringanyType><Key>@x</Key><Value p4:type="l28:string" xmlns:l28="http://www.w3.org/2001/XMLSchema">y</Value></KeyValueOfstringanyType></Parameters></Filter><Action p4:type="EmptyRuleAction" xmlns:p4="http://www.w3.org/2001/XMLSchema-instance"/><Name>r2</Name></RuleDescription>`,
);
const rule = (filter: string, action = ""): string =>
  ENTRY(`<RuleDescription ${NS}>${filter}${action}</RuleDescription>`);

describe("parseEntityBody", () => {
  it("reads a QueueDescription into options in milliseconds", () => {
    expect(parseEntityBody(SDK_QUEUE)).toEqual({
      kind: "queue",
      options: {
        lockDurationMs: 30_000,
        maxSizeInMegabytes: 2048,
        requiresDuplicateDetection: true,
        requiresSession: false,
        defaultMessageTimeToLiveMs: 2 * 86_400_000,
        deadLetteringOnMessageExpiration: true,
        duplicateDetectionHistoryTimeWindowMs: 120_000,
        maxDeliveryCount: 5,
        enableBatchedOperations: false,
        status: "SendDisabled",
        forwardTo: "other",
        userMetadata: "a<b&c",
        autoDeleteOnIdleMs: MAX_TIMESPAN_MS,
        forwardDeadLetteredMessagesTo: "dlq",
        maxMessageSizeInKilobytes: 1024,
      },
    });
  });

  it("reads a TopicDescription, leaving absent options out", () => {
    expect(parseEntityBody(SDK_TOPIC)).toEqual({
      kind: "topic",
      options: {
        defaultMessageTimeToLiveMs: 3_600_000,
        requiresDuplicateDetection: true,
        supportOrdering: false,
        userMetadata: "",
      },
    });
    expect(parseEntityBody(ENTRY(`<TopicDescription ${NS}/>`))).toEqual({ kind: "topic", options: {} });
  });

  it("reads a SubscriptionDescription with its typed default rule", () => {
    expect(parseEntityBody(SDK_SUBSCRIPTION)).toEqual({
      kind: "subscription",
      options: { lockDurationMs: 300_000, maxDeliveryCount: 3, status: "ReceiveDisabled" },
      defaultRule: {
        name: "r",
        filter: {
          kind: "correlation",
          correlationId: "c",
          subject: "l",
          applicationProperties: { a: 1, b: "x", c: true, d: new Date(0) },
        },
        action: { sqlExpression: "SET a = @p", sqlParameters: { "@p": 2.5 } },
      },
    });
  });

  it("reads a RuleDescription", () => {
    expect(parseEntityBody(SDK_RULE)).toEqual({
      kind: "rule",
      name: "r2",
      filter: { kind: "sql", sqlExpression: "a = @x", sqlParameters: { "@x": "y" } },
      action: undefined,
    });
  });

  it("reads TrueFilter, FalseFilter, untyped filters and every correlation property", () => {
    expect(parseEntityBody(rule(`<Filter i:type="TrueFilter"/>`))).toMatchObject({
      filter: { kind: "sql", sqlExpression: "1=1" },
    });
    expect(
      parseEntityBody(rule(`<Filter i:type="FalseFilter"><SqlExpression>1=0</SqlExpression></Filter>`)),
    ).toMatchObject({
      filter: { kind: "sql", sqlExpression: "1=0" },
    });
    expect(parseEntityBody(rule(`<Filter><SqlExpression>x &gt; 1</SqlExpression></Filter>`))).toMatchObject({
      filter: { kind: "sql", sqlExpression: "x > 1" },
    });
    const all = parseEntityBody(
      rule(
        `<Filter i:type="CorrelationFilter"><CorrelationId>1</CorrelationId><MessageId>2</MessageId><To>3</To><ReplyTo>4</ReplyTo><Label>5</Label><SessionId>6</SessionId><ReplyToSessionId>7</ReplyToSessionId><ContentType>8</ContentType><Properties><KeyValueOfstringanyType><Key>n</Key><Value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema">-4</Value></KeyValueOfstringanyType></Properties></Filter>`,
        `<Action i:type="SqlRuleAction"><SqlExpression>REMOVE x</SqlExpression></Action>`,
      ),
    );
    expect(all).toEqual({
      kind: "rule",
      name: undefined,
      filter: {
        kind: "correlation",
        correlationId: "1",
        messageId: "2",
        to: "3",
        replyTo: "4",
        subject: "5",
        sessionId: "6",
        replyToSessionId: "7",
        contentType: "8",
        applicationProperties: { n: -4 },
      },
      action: { sqlExpression: "REMOVE x" },
    });
  });

  it("keeps a __proto__ key as data", () => {
    const body = parseEntityBody(
      rule(
        `<Filter i:type="CorrelationFilter"><Properties><KeyValueOfstringanyType><Key>__proto__</Key><Value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">x</Value></KeyValueOfstringanyType></Properties></Filter>`,
      ),
    );
    const props =
      body.kind === "rule" && body.filter.kind === "correlation" ? body.filter.applicationProperties : {};
    expect(Object.keys(props ?? {})).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(props)).toBe(Object.prototype);
  });

  it("treats i:nil elements as absent", () => {
    expect(
      parseEntityBody(ENTRY(`<QueueDescription ${NS}><ForwardTo i:nil="true"/></QueueDescription>`)),
    ).toEqual({
      kind: "queue",
      options: {},
    });
  });

  it.each([
    ["", "the request body is empty"],
    ["<entry", "not well-formed XML"],
    ["<feed/>", "expected an ATOM <entry>"],
    ['<entry xmlns="http://www.w3.org/2005/Atom"/>', "no <content>"],
    [ENTRY(""), "exactly one entity description"],
    [ENTRY(`<NamespaceInfo ${NS}/>`), "unsupported entity description <NamespaceInfo>"],
    [
      ENTRY(`<QueueDescription ${NS}><LockDuration>1 minute</LockDuration></QueueDescription>`),
      "<LockDuration>",
    ],
    [ENTRY(`<QueueDescription ${NS}><LockDuration>PT0S</LockDuration></QueueDescription>`), "at least"],
    [
      ENTRY(`<QueueDescription ${NS}><MaxDeliveryCount>0</MaxDeliveryCount></QueueDescription>`),
      "integer from 1",
    ],
    [ENTRY(`<QueueDescription ${NS}><MaxDeliveryCount>1.5</MaxDeliveryCount></QueueDescription>`), "integer"],
    [
      ENTRY(`<QueueDescription ${NS}><RequiresSession>yes</RequiresSession></QueueDescription>`),
      "true or false",
    ],
    [ENTRY(`<QueueDescription ${NS}><Status>Creating</Status></QueueDescription>`), "must be one of"],
    [
      ENTRY(`<QueueDescription ${NS}><UserMetadata>${"x".repeat(1025)}</UserMetadata></QueueDescription>`),
      "longer than 1024",
    ],
    [
      ENTRY(`<QueueDescription ${NS}><Status>Active</Status><Status>Active</Status></QueueDescription>`),
      "twice",
    ],
    [ENTRY(`<QueueDescription ${NS}><Status><x/></Status></QueueDescription>`), "must hold text"],
    [
      ENTRY(`<QueueDescription ${NS}><ForwardTo>sb://localhost/</ForwardTo></QueueDescription>`),
      "names no entity",
    ],
    [rule(""), "has no <Filter>"],
    [rule(`<Filter i:type="SqlFilter"><SqlExpression> </SqlExpression></Filter>`), "empty <SqlExpression>"],
    [rule(`<Filter i:type="BloomFilter"/>`), 'unsupported filter type "BloomFilter"'],
    [
      rule(`<Filter i:type="TrueFilter"/>`, `<Action i:type="ScriptAction"/>`),
      'unsupported action type "ScriptAction"',
    ],
    [
      rule(
        `<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression><Parameters><KeyValueOfstringanyType><Key>k</Key><Value i:type="d:duration" xmlns:d="x">PT1S</Value></KeyValueOfstringanyType></Parameters></Filter>`,
      ),
      'unsupported type "duration"',
    ],
    [
      rule(
        `<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression><Parameters><KeyValueOfstringanyType><Key>k</Key><Value i:type="d:double" xmlns:d="x">abc</Value></KeyValueOfstringanyType></Parameters></Filter>`,
      ),
      "is not a number",
    ],
    [
      rule(
        `<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression><Parameters><KeyValueOfstringanyType><Value>1</Value></KeyValueOfstringanyType></Parameters></Filter>`,
      ),
      "has no <Key>",
    ],
    [
      rule(
        `<Filter i:type="SqlFilter"><SqlExpression>a</SqlExpression><Parameters><Other/></Parameters></Filter>`,
      ),
      "only <KeyValueOfstringanyType>",
    ],
  ])("rejects %#: %s", (xml, message) => {
    expect(() => parseEntityBody(xml)).toThrow(BodyError);
    expect(() => parseEntityBody(xml)).toThrow(message);
  });
});

const ctx: WriteContext = { host: "localhost", now: new Date("2025-02-03T04:05:06.000Z") };
const counts: EntityRuntimeCounts = {
  activeMessageCount: 1,
  deadLetterMessageCount: 2,
  scheduledMessageCount: 3,
  transferMessageCount: 4,
  transferDeadLetterMessageCount: 5,
  totalMessageCount: 15,
  sizeInBytes: 640,
  createdAt: new Date("2025-01-01T00:00:00.000Z"),
  updatedAt: new Date("2025-01-02T00:00:00.000Z"),
  accessedAt: new Date("2025-01-03T00:00:00.000Z"),
};

/** Parses an entry and returns its id and the description's children by local name. */
function readEntry(markup: string): { id: string; description: XmlElement; fields: Record<string, string> } {
  const entry = parseXml(markup);
  expect(entry.local).toBe("entry");
  const content = childNamed(entry, "content");
  const description = content && childElements(content)[0];
  if (!description) throw new Error("no description");
  const fields: Record<string, string> = {};
  for (const child of childElements(description)) fields[child.local] = textOf(child);
  return { id: textOf(childNamed(entry, "id") as XmlElement), description, fields };
}

describe("entries", () => {
  it("writes a QueueDescription with durations, forwarding URLs and counts", () => {
    const { id, description, fields } = readEntry(
      queueEntry(
        ctx,
        { name: "a/b", options: { ...DEFAULT_QUEUE_OPTIONS, forwardTo: "c", userMetadata: "<m>" } },
        counts,
      ).markup,
    );
    expect(id).toBe("https://localhost/a/b?api-version=2021-05");
    expect(description.ns).toBe("http://schemas.microsoft.com/netservices/2010/10/servicebus/connect");
    expect(fields).toMatchObject({
      LockDuration: "PT1M",
      MaxDeliveryCount: "10",
      DefaultMessageTimeToLive: "P10675199DT2H48M5.4775807S",
      ForwardTo: "sb://localhost/c",
      UserMetadata: "<m>",
      MessageCount: "15",
      SizeInBytes: "640",
      EnablePartitioning: "false",
      EnableExpress: "false",
      EntityAvailabilityStatus: "Available",
      Status: "Active",
      CreatedAt: "2025-01-01T00:00:00.000Z",
      UpdatedAt: "2025-01-02T00:00:00.000Z",
      AccessedAt: "2025-01-03T00:00:00.000Z",
    });
    expect(fields).not.toHaveProperty("ForwardDeadLetteredMessagesTo");
    // The SDK finds the count prefix from CountDetails' only attribute.
    const details = childNamed(description, "CountDetails") as XmlElement;
    expect(details.attributes.map((a) => a.name)).toEqual(["xmlns:d2p1"]);
    expect(childElements(details).map((c) => `${c.name}=${textOf(c)}`)).toEqual([
      "d2p1:ActiveMessageCount=1",
      "d2p1:DeadLetterMessageCount=2",
      "d2p1:ScheduledMessageCount=3",
      "d2p1:TransferMessageCount=4",
      "d2p1:TransferDeadLetterMessageCount=5",
    ]);
  });

  it("writes a TopicDescription with the subscription count", () => {
    const { fields } = readEntry(
      topicEntry(
        ctx,
        { name: "t", options: DEFAULT_TOPIC_OPTIONS, subscriptions: [] },
        { ...counts, subscriptionCount: 4 },
      ).markup,
    );
    expect(fields).toMatchObject({ SubscriptionCount: "4", SupportOrdering: "true", SizeInBytes: "640" });
    expect(fields).not.toHaveProperty("UserMetadata");
  });

  it("writes a SubscriptionDescription under its topic's path", () => {
    const { id, fields } = readEntry(
      subscriptionEntry(
        ctx,
        "t",
        {
          name: "s",
          options: { ...DEFAULT_SUBSCRIPTION_OPTIONS, forwardDeadLetteredMessagesTo: "sb://elsewhere/q" },
          rules: [],
        },
        counts,
      ).markup,
    );
    expect(id).toBe("https://localhost/t/Subscriptions/s?api-version=2021-05");
    expect(fields).toMatchObject({
      MessageCount: "15",
      DeadLetteringOnFilterEvaluationExceptions: "true",
      ForwardDeadLetteredMessagesTo: "sb://elsewhere/q",
      EntityAvailabilityStatus: "Available",
    });
  });

  it("writes rules with constant, SQL and correlation filters and typed values", () => {
    const trueRule = readEntry(
      ruleEntry(ctx, "t", "s", { name: "$Default", filter: { kind: "sql", sqlExpression: "1 = 1" } }).markup,
    );
    expect(trueRule.id).toBe("https://localhost/t/Subscriptions/s/Rules/$Default?api-version=2021-05");
    const trueFilter = childNamed(trueRule.description, "Filter") as XmlElement;
    expect(trueFilter.attributes.map((a) => [a.name, a.value])).toEqual([["i:type", "TrueFilter"]]);
    expect(textOf(childNamed(trueFilter, "SqlExpression") as XmlElement)).toBe("1 = 1");
    expect(
      attributeOf(
        childNamed(trueRule.description, "Action") as XmlElement,
        "http://www.w3.org/2001/XMLSchema-instance",
        "type",
      ),
    ).toBe("EmptyRuleAction");

    const when = new Date("2024-05-06T07:08:09.123Z");
    const corr = readEntry(
      ruleEntry(ctx, "t", "s", {
        name: "c",
        filter: {
          kind: "correlation",
          subject: "l",
          applicationProperties: { i: 7, d: 2.5, big: 2 ** 40, b: false, s: "x", t: when },
        },
        action: { sqlExpression: "SET x = @v", sqlParameters: { "@v": 1 } },
      }).markup,
    );
    const filter = childNamed(corr.description, "Filter") as XmlElement;
    expect(textOf(childNamed(filter, "Label") as XmlElement)).toBe("l");
    const values = childElements(childNamed(filter, "Properties") as XmlElement).map((pair) => {
      const value = childNamed(pair, "Value") as XmlElement;
      return [
        textOf(childNamed(pair, "Key") as XmlElement),
        value.attributes.find((a) => a.name === "i:type")?.value,
        textOf(value),
      ];
    });
    // The SDK drops the first five characters of i:type, so the prefix has exactly four.
    expect(values).toEqual([
      ["i", "d6p1:int", "7"],
      ["d", "d6p1:double", "2.5"],
      ["big", "d6p1:double", "1099511627776"],
      ["b", "d6p1:boolean", "false"],
      ["s", "d6p1:string", "x"],
      ["t", "d6p1:dateTime", "2024-05-06T07:08:09.123Z"],
    ]);
    const action = childNamed(corr.description, "Action") as XmlElement;
    expect(action.attributes.find((a) => a.name === "i:type")?.value).toBe("SqlRuleAction");
    expect(childElements(childNamed(action, "Parameters") as XmlElement)).toHaveLength(1);

    // What the service writes, the parser reads back to the same rule.
    const written = {
      name: "c",
      filter: { kind: "correlation" as const, applicationProperties: { t: when, n: 3 } },
    };
    expect(parseEntityBody(ruleEntry(ctx, "t", "s", written).markup)).toEqual({
      kind: "rule",
      ...written,
      action: undefined,
    });
  });

  it("reads back every entity it writes", () => {
    const queue = {
      ...DEFAULT_QUEUE_OPTIONS,
      lockDurationMs: 45_500,
      requiresSession: true,
      status: "Disabled" as const,
      forwardTo: "f",
      forwardDeadLetteredMessagesTo: "g",
      userMetadata: "u & v",
    };
    expect(parseEntityBody(queueEntry(ctx, { name: "q", options: queue }, counts).markup)).toEqual({
      kind: "queue",
      options: queue,
    });
    const topic = { ...DEFAULT_TOPIC_OPTIONS, supportOrdering: false, userMetadata: "" };
    expect(
      parseEntityBody(
        topicEntry(ctx, { name: "t", options: topic, subscriptions: [] }, { ...counts, subscriptionCount: 0 })
          .markup,
      ),
    ).toEqual({ kind: "topic", options: topic });
    const subscription = { ...DEFAULT_SUBSCRIPTION_OPTIONS, maxDeliveryCount: 2, forwardTo: "x" };
    expect(
      parseEntityBody(
        subscriptionEntry(ctx, "t", { name: "s", options: subscription, rules: [] }, counts).markup,
      ),
    ).toEqual({
      kind: "subscription",
      options: subscription,
      defaultRule: undefined,
    });
  });

  it("names the namespace after its host", () => {
    expect(namespaceName("localhost")).toBe("localhost");
    expect(namespaceName("my-ns.servicebus.windows.net:443")).toBe("my-ns");
    expect(namespaceName("127.0.0.1:5300")).toBe("127.0.0.1");
    expect(namespaceName("[::1]:5300")).toBe("::1");
    const { fields } = readEntry(namespaceEntry(ctx, counts.createdAt).markup);
    expect(fields).toMatchObject({
      Name: "localhost",
      MessagingSKU: "Standard",
      CreatedTime: "2025-01-01T00:00:00.000Z",
    });
  });
});

describe("feeds and errors", () => {
  it("always writes a self link and a next link only while more remain", () => {
    const entry = namespaceEntry(ctx, counts.createdAt);
    const links = (markup: string): string[] =>
      childElements(parseXml(markup))
        .filter((e) => e.local === "link")
        .map((e) => `${attributeOf(e, "", "rel")} ${attributeOf(e, "", "href")}`);
    expect(
      links(feed(ctx, "Queues", "$Resources/Queues", { skip: 0, top: 2, total: 5 }, [entry, entry]).markup),
    ).toEqual([
      "self https://localhost/$Resources/Queues?%24skip=0&%24top=2&api-version=2021-05",
      "next https://localhost/$Resources/Queues?%24skip=2&%24top=2&api-version=2021-05",
    ]);
    expect(
      links(feed(ctx, "Queues", "$Resources/Queues", { skip: 4, top: 2, total: 5 }, [entry]).markup),
    ).toHaveLength(1);
    expect(
      links(feed(ctx, "Queues", "$Resources/Queues", { skip: 9, top: 2, total: 5 }, []).markup),
    ).toHaveLength(1);
  });

  it("writes the error document the SDK reads Detail from", () => {
    expect(errorElement(404, "The messaging entity 'x' could not be found.").markup).toBe(
      "<Error><Code>404</Code><Detail>The messaging entity 'x' could not be found.</Detail></Error>",
    );
  });
});
