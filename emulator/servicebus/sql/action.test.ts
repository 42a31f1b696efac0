import { describe, expect, it } from "vitest";
import {
  SqlEvaluationError,
  SqlSyntaxError,
  applyAction,
  compileAction,
  type CompiledAction,
  type SqlMessageView,
  type SqlValue,
} from "./index.js";

function view(system: Record<string, SqlValue> = {}, user: Record<string, SqlValue> = {}): SqlMessageView {
  return { system: new Map(Object.entries(system)), user: new Map(Object.entries(user)) };
}

function snapshot(message: SqlMessageView): { system: [string, SqlValue][]; user: [string, SqlValue][] } {
  return { system: [...message.system].sort(), user: [...message.user].sort() };
}

/** Applies `expression` and returns the resulting maps as plain objects. */
function run(
  expression: string,
  message: SqlMessageView,
  parameters?: Record<string, string | number | boolean>,
) {
  const result = applyAction(compileAction(expression, parameters), message);
  expect(result).toEqual({ ok: true });
  return { system: Object.fromEntries(message.system), user: Object.fromEntries(message.user) };
}

describe("SET and REMOVE", () => {
  it("runs the example from the Service Bus docs", () => {
    const message = view({ CorrelationId: "high" }, { color: "red", quantity: 5, priority: "high" });
    const after = run("SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';", message);
    expect(after).toEqual({ system: { CorrelationId: "low" }, user: { color: "red", quantity: 2 } });
  });

  it("creates, overwrites and removes user properties", () => {
    const message = view({}, { a: 1, gone: "x" });
    expect(run("SET a = 'one'; SET b = 2.5; SET [c d] = TRUE; REMOVE gone", message).user).toEqual({
      a: "one",
      b: 2.5,
      "c d": true,
    });
  });

  it("lets later statements see earlier ones", () => {
    expect(run("SET a = 1; SET b = a + 1 SET a = b * 10", view()).user).toEqual({ a: 20, b: 2 });
  });

  it("stores NULL for an unknown value and for NULL", () => {
    expect(run("SET a = missing + 1; SET b = NULL", view()).user).toEqual({ a: null, b: null });
  });

  it("ignores REMOVE of a missing property", () => {
    expect(run("REMOVE nothing", view({}, { a: 1 })).user).toEqual({ a: 1 });
  });

  it("sets settable system properties under the broker's key", () => {
    const message = view({ label: "old", MessageId: "m" }, {});
    const after = run(
      "SET sys.Label = sys.Label + '-routed'; SET sys.To = 'queue-b'; SET sys.ReplyTo = 'r'; SET sys.SessionId = 's'; SET sys.ContentType = 'text/plain'",
      message,
    );
    expect(after.system).toEqual({
      label: "old-routed",
      MessageId: "m",
      To: "queue-b",
      ReplyTo: "r",
      SessionId: "s",
      ContentType: "text/plain",
    });
  });

  it("removes a system property set to NULL", () => {
    expect(
      run("SET sys.To = NULL; SET sys.ReplyTo = missing", view({ To: "x", ReplyTo: "y", Label: "l" })).system,
    ).toEqual({
      Label: "l",
    });
  });

  it("uses parameters and functions", () => {
    const after = run(
      "SET source = @p; SET id = newid(); SET copy = p('sys.MessageId')",
      view({ MessageId: "m" }),
      {
        "@p": "routedOrders",
      },
    );
    expect(after.user.source).toBe("routedOrders");
    expect(after.user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(after.user.copy).toBe("m");
  });

  it("stores a copy of a Date parameter in each message", () => {
    const date = new Date("2024-01-01T00:00:00Z");
    const action = compileAction("SET at = @d", { "@d": date });
    const first = view();
    const second = view();
    action.apply(first);
    action.apply(second);
    const stored = first.user.get("at");
    expect(stored).toEqual(date);
    expect(stored).not.toBe(second.user.get("at"));
  });

  it("keeps the expression text", () => {
    expect(compileAction("REMOVE a").expression).toBe("REMOVE a");
  });

  it("rejects invalid actions at compile time", () => {
    expect(() => compileAction("SET sys.SequenceNumber = 1")).toThrow(SqlSyntaxError);
    expect(() => compileAction("REMOVE sys.Label")).toThrow(SqlSyntaxError);
    expect(() => compileAction("SET a = ")).toThrow(SqlSyntaxError);
  });
});

describe("failing actions", () => {
  it.each([
    ["SET sys.To = 5", 13, "sys.To takes a string, not a number at position 13"],
    [
      "SET a = 'x'; SET b = a + 1",
      23,
      "operator '+' cannot be applied to a string and a number at position 23",
    ],
    ["SET a = 1 / 0", 10, "division by zero at position 10"],
    ["SET a = p('sys.Nope')", 8, "unknown system property 'sys.Nope' at position 8"],
  ])("%s reports %s", (expression, position, message) => {
    const result = applyAction(compileAction(expression), view());
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBeInstanceOf(SqlEvaluationError);
    expect(result.error.position).toBe(position);
    expect(result.error.message).toBe(message);
  });

  it("undoes every change when a later statement fails", () => {
    const message = view({ Label: "before", MessageId: "m" }, { a: "old", b: 2, keep: true });
    const before = snapshot(message);
    const action = compileAction(
      "SET a = 'new'; REMOVE b; SET sys.Label = 'after'; SET sys.To = 'x'; SET sys.MessageId = NULL; SET c = 1; SET d = c / 0",
    );
    const result = applyAction(action, message);
    expect(result.ok).toBe(false);
    expect(snapshot(message)).toEqual(before);
    // apply() behaves the same and does not throw.
    expect(() => action.apply(message)).not.toThrow();
    expect(snapshot(message)).toEqual(before);
  });

  it("never throws on a malformed view", () => {
    const broken = { system: undefined, user: undefined } as unknown as SqlMessageView;
    const action = compileAction("SET a = 1; SET sys.Label = 'x'; REMOVE b");
    expect(() => action.apply(broken)).not.toThrow();
    const result = applyAction(action, broken);
    expect(result.ok).toBe(false);
  });

  it("reports errors of actions that are not SQL", () => {
    const custom: CompiledAction = {
      expression: "custom",
      apply: () => {
        throw new Error("nope");
      },
    };
    const result = applyAction(custom, view());
    expect(result).toMatchObject({ ok: false });
    expect(result.ok ? "" : result.error.message).toBe("evaluation failed: nope");
    expect(applyAction({ expression: "noop", apply: () => undefined }, view())).toEqual({ ok: true });
  });
});
