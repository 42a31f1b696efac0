import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HeraldError } from "../../core/errors.js";
import { parseConfig, parseDuration } from "./config.js";

const EXAMPLE = fileURLToPath(new URL("./Config.example.json", import.meta.url));

function config(ns: object): string {
  return JSON.stringify({
    UserConfig: { Namespaces: [{ Name: "sbemulatorns", ...ns }], Logging: { Type: "File" } },
  });
}

function failure(text: string): HeraldError {
  try {
    parseConfig(text, "Config.json");
  } catch (err) {
    if (err instanceof HeraldError) return err;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

describe("parseDuration", () => {
  it.each([
    ["PT1M", 60_000],
    ["PT20S", 20_000],
    ["PT0.5S", 500],
    ["P14D", 14 * 86_400_000],
    ["P1DT2H3M4S", 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4000],
    ["P1W", 7 * 86_400_000],
    ["P1Y", 365 * 86_400_000],
    ["PT1H", 3_600_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "P", "PT", "1M", "PT1", "PT-1S", "P1H", "PTM", "00:01:00", "PT1M extra"])(
    "rejects %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe("parseConfig", () => {
  it("reads Microsoft's sample config", () => {
    const ns = parseConfig(readFileSync(EXAMPLE, "utf8"), "Config.example.json");
    expect(ns.name).toBe("sbemulatorns");
    expect(ns.queues).toEqual([
      {
        name: "queue.1",
        options: {
          deadLetteringOnMessageExpiration: false,
          defaultMessageTimeToLiveMs: 3_600_000,
          duplicateDetectionHistoryTimeWindowMs: 20_000,
          forwardDeadLetteredMessagesTo: "",
          forwardTo: "",
          lockDurationMs: 60_000,
          maxDeliveryCount: 3,
          requiresDuplicateDetection: false,
          requiresSession: false,
        },
      },
    ]);
    const [t] = ns.topics;
    expect(t!.name).toBe("topic.1");
    expect(t!.subscriptions.map((s) => s.name)).toEqual([
      "subscription.1",
      "subscription.2",
      "subscription.3",
      "subscription.4",
    ]);
    expect(t!.subscriptions[0]!.rules[0]).toEqual({
      name: "app-prop-filter-1",
      filter: {
        kind: "correlation",
        contentType: "application/text",
        correlationId: "id1",
        subject: "subject1",
        messageId: "msgid1",
        replyTo: "someQueue",
        replyToSessionId: "sessionId",
        sessionId: "session1",
        to: "xyz",
      },
    });
    expect(t!.subscriptions[1]!.rules[0]!.filter).toEqual({
      kind: "correlation",
      applicationProperties: { prop3: "value3" },
    });
    expect(t!.subscriptions[2]!.rules[0]).toEqual({
      name: "sql-filter-1",
      filter: { kind: "sql", sqlExpression: "sys.MessageId = '123456' AND userProp1 = 'value1'" },
      action: { sqlExpression: "SET sys.To = 'Entity'" },
    });
    expect(t!.subscriptions[3]!.rules).toEqual([]);
  });

  it("accepts a minimal file and Azure-only properties", () => {
    const ns = parseConfig(
      config({ Queues: [{ Name: "q", Properties: { Status: "SendDisabled", MaxSizeInMegabytes: 2048 } }] }),
      "f",
    );
    expect(ns.queues[0]!.options).toEqual({ status: "SendDisabled", maxSizeInMegabytes: 2048 });
    expect(ns.topics).toEqual([]);
  });

  it.each([
    [
      config({
        Queues: [{ Name: "a" }, { Name: "b" }, { Name: "c", Properties: { LockDuration: "1 minute" } }],
      }),
      "UserConfig.Namespaces[0].Queues[2].Properties.LockDuration",
      /ISO 8601/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { LockDuration: "PT10M" } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.LockDuration",
      /at most 300 seconds/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { MaxDeliveryCount: 0 } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.MaxDeliveryCount",
      /positive integer/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { RequiresSession: "yes" } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.RequiresSession",
      /true or false/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { LockDuraton: "PT1M" } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.LockDuraton",
      /not a known property/,
    ],
    [config({ Queues: [{ Name: "-bad-" }] }), "UserConfig.Namespaces[0].Queues[0].Name", /not a valid name/],
    [config({ Queues: [{}] }), "UserConfig.Namespaces[0].Queues[0].Name", /required/],
    [
      config({ Queues: [{ Name: "Q" }, { Name: "q" }] }),
      "UserConfig.Namespaces[0].Queues[1].Name",
      /duplicates/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { ForwardTo: "missing" } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.ForwardTo",
      /not a queue or topic/,
    ],
    [
      config({ Queues: [{ Name: "q", Properties: { ForwardTo: "q" } }] }),
      "UserConfig.Namespaces[0].Queues[0].Properties.ForwardTo",
      /itself/,
    ],
    [config({ Queues: "nope" }), "UserConfig.Namespaces[0].Queues", /must be an array/],
    [
      config({
        Topics: [
          {
            Name: "t",
            Subscriptions: [{ Name: "s", Rules: [{ Name: "r", Properties: { FilterType: "Regex" } }] }],
          },
        ],
      }),
      "UserConfig.Namespaces[0].Topics[0].Subscriptions[0].Rules[0].Properties.FilterType",
      /"Correlation" or "Sql"/,
    ],
    [
      config({
        Topics: [
          {
            Name: "t",
            Subscriptions: [
              {
                Name: "s",
                Rules: [{ Name: "r", Properties: { FilterType: "Correlation", CorrelationFilter: {} } }],
              },
            ],
          },
        ],
      }),
      "UserConfig.Namespaces[0].Topics[0].Subscriptions[0].Rules[0].Properties.CorrelationFilter",
      /at least one/,
    ],
    [
      config({
        Topics: [
          {
            Name: "t",
            Subscriptions: [
              {
                Name: "s",
                Rules: [
                  { Name: "r", Properties: { FilterType: "Sql", SqlFilter: { SqlExpression: "a = = 1" } } },
                ],
              },
            ],
          },
        ],
      }),
      "UserConfig.Namespaces[0].Topics[0].Subscriptions[0].Rules[0].Properties.SqlFilter.SqlExpression",
      /not a valid SQL filter/,
    ],
    [
      config({
        Topics: [
          {
            Name: "t",
            Subscriptions: [
              {
                Name: "s",
                Rules: [
                  {
                    Name: "r",
                    Properties: {
                      FilterType: "Sql",
                      SqlFilter: { SqlExpression: "1=1" },
                      Action: { SqlExpression: "DROP TABLE x" },
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
      "UserConfig.Namespaces[0].Topics[0].Subscriptions[0].Rules[0].Properties.Action.SqlExpression",
      /not a valid SQL action/,
    ],
    [JSON.stringify({ UserConfig: { Namespaces: [] } }), "UserConfig.Namespaces", /one namespace/],
    [
      JSON.stringify({ UserConfig: { Namespaces: [{}, {}] } }),
      "UserConfig.Namespaces[1]",
      /only one namespace/,
    ],
    [JSON.stringify({}), "UserConfig", /must be an object/],
  ])("rejects a bad file with its JSON path (%#)", (text, path, what) => {
    const err = failure(text);
    expect(err.code).toBe("HERALD_INVALID_CONFIG");
    expect(err.target).toBe(path);
    expect(err.message).toContain(`Config.json: ${path}: `);
    expect(err.message).toMatch(what);
  });

  it("rejects text that is not JSON, naming the file", () => {
    const err = failure("{ not json");
    expect(err.code).toBe("HERALD_INVALID_CONFIG");
    expect(err.message).toMatch(/^Config\.json: not valid JSON/);
  });
});
