import { describe, expect, it } from "vitest";
import { formatNode, formatStatements } from "./ast.js";
import { SqlSyntaxError } from "./errors.js";
import { MAX_EXPRESSION_LENGTH, MAX_NESTING_DEPTH, parseAction, parseFilter } from "./parser.js";
import type { SqlParameters } from "./types.js";

/** Runs `fn`, which must throw a SqlSyntaxError, and returns it. */
function syntaxError(fn: () => unknown): SqlSyntaxError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SqlSyntaxError);
    return error as SqlSyntaxError;
  }
  throw new Error("expected a SqlSyntaxError, but nothing was thrown");
}

describe("parseFilter: valid expressions", () => {
  // [expression, fully parenthesised form]
  const cases: [string, string][] = [
    ["1=1", "(1 = 1)"],
    ["1=0", "(1 = 0)"],
    ["a = 1 OR b = 2 AND c = 3", "((user.[a] = 1) OR ((user.[b] = 2) AND (user.[c] = 3)))"],
    ["a = 1 AND b = 2 OR c = 3", "(((user.[a] = 1) AND (user.[b] = 2)) OR (user.[c] = 3))"],
    ["a = 1 AND (b = 2 OR c = 3)", "((user.[a] = 1) AND ((user.[b] = 2) OR (user.[c] = 3)))"],
    ["NOT a = 1 AND b = 2", "((NOT (user.[a] = 1)) AND (user.[b] = 2))"],
    ["NOT NOT a = 1", "(NOT (NOT (user.[a] = 1)))"],
    ["NOT (a = 1 OR b = 2)", "(NOT ((user.[a] = 1) OR (user.[b] = 2)))"],
    ["a = 1 OR b = 2 OR c = 3", "(((user.[a] = 1) OR (user.[b] = 2)) OR (user.[c] = 3))"],
    [
      "a + b * c - d / e % f > 0",
      "(((user.[a] + (user.[b] * user.[c])) - ((user.[d] / user.[e]) % user.[f])) > 0)",
    ],
    ["a - b - c = 0", "(((user.[a] - user.[b]) - user.[c]) = 0)"],
    ["-a * -2 = +b", "(((-user.[a]) * -2) = (+user.[b]))"],
    ["- -a = 1", "((-(-user.[a])) = 1)"],
    ["(a + 1) * 2 = 4", "(((user.[a] + 1) * 2) = 4)"],
    ["((a = 1))", "(user.[a] = 1)"],
    ["((a)) = 1", "(user.[a] = 1)"],
    ["a <> 1", "(user.[a] <> 1)"],
    ["a != 1", "(user.[a] != 1)"],
    ["a >= 1", "(user.[a] >= 1)"],
    ["a <= 1", "(user.[a] <= 1)"],
    ["a < 1", "(user.[a] < 1)"],
    ["a > 1", "(user.[a] > 1)"],
    ["1 < a", "(1 < user.[a])"],
    // Names and scopes
    ["sys.Label = 'x'", "(sys.[Label] = 'x')"],
    ["SYS.label = 'x'", "(sys.[Label] = 'x')"],
    ["sys.Subject = 'x'", "(sys.[Label] = 'x')"],
    ["sys.messageid = 'xxxx'", "(sys.[MessageId] = 'xxxx')"],
    ["sys.correlationid like 'abc-%'", "(sys.[CorrelationId] LIKE 'abc-%')"],
    ["sys.[To] = 'x'", "(sys.[To] = 'x')"],
    ["user.color = 'red'", "(user.[color] = 'red')"],
    ["USER.color = 'red'", "(user.[color] = 'red')"],
    ["[my prop] = 1", "(user.[my prop] = 1)"],
    ["user.[my prop] = 1", "(user.[my prop] = 1)"],
    ["[HR-EmployeeID] = 1", "(user.[HR-EmployeeID] = 1)"],
    ["[a]]b] = 1", "(user.[a]]b] = 1)"],
    ["\"Contoso & Northwind\" = 'x'", "(user.[Contoso & Northwind] = 'x')"],
    ['"a""b" = 1', '(user.[a"b] = 1)'],
    [
      "\"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName\" = 'account'",
      "(user.[http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName] = 'account')",
    ],
    ["user.in = 1", "(user.[in] = 1)"],
    ["sys = 1", "(user.[sys] = 1)"],
    ["[AND] = 1", "(user.[AND] = 1)"],
    ["größe = 1", "(user.[größe] = 1)"],
    ["名前 = 'x'", "(user.[名前] = 'x')"],
    ["a_1 = 1", "(user.[a_1] = 1)"],
    // Literals
    ["'it''s' = a", "('it''s' = user.[a])"],
    ["a = ''", "(user.[a] = '')"],
    ["a = 'ünïcødé ✓'", "(user.[a] = 'ünïcødé ✓')"],
    ["a = 1894.1204", "(user.[a] = 1894.1204)"],
    ["a = 2.0", "(user.[a] = 2.0)"],
    ["a = 101.5E5", "(user.[a] = 10150000.0)"],
    ["a = 0.5E-2", "(user.[a] = 0.005)"],
    ["a = 1e+2", "(user.[a] = 100.0)"],
    ["a = .5", "(user.[a] = 0.5)"],
    ["a = 5.", "(user.[a] = 5.0)"],
    ["a = -1", "(user.[a] = -1)"],
    ["a = TRUE", "(user.[a] = TRUE)"],
    ["a = false", "(user.[a] = FALSE)"],
    ["a = NULL", "(user.[a] = NULL)"],
    // IN, LIKE, IS NULL, EXISTS
    ["a IN (1, 2, 3)", "(user.[a] IN (1, 2, 3))"],
    ["a in('x')", "(user.[a] IN ('x'))"],
    ["a NOT IN ('x', b + 1)", "(user.[a] NOT IN ('x', (user.[b] + 1)))"],
    ["StoreId IN('Store1', 'Store2', 'Store3')", "(user.[StoreId] IN ('Store1', 'Store2', 'Store3'))"],
    ["a LIKE 'x%'", "(user.[a] LIKE 'x%')"],
    ["a not like 'x\\%' escape '\\'", "(user.[a] NOT LIKE 'x\\%' ESCAPE '\\')"],
    ["a LIKE b + '%'", "(user.[a] LIKE (user.[b] + '%'))"],
    ["a IS NULL", "(user.[a] IS NULL)"],
    ["a is not null", "(user.[a] IS NOT NULL)"],
    ["sys.SessionId IS NULL", "(sys.[SessionId] IS NULL)"],
    ["EXISTS(a)", "EXISTS(user.[a])"],
    ["exists ( user.[x y] )", "EXISTS(user.[x y])"],
    ["NOT EXISTS(sys.SessionId)", "(NOT EXISTS(sys.[SessionId]))"],
    ["EXISTS(a) AND a > 1", "(EXISTS(user.[a]) AND (user.[a] > 1))"],
    // Functions
    ["newid() = 'x'", "(newid() = 'x')"],
    ["NEWID() <> newid()", "(newid() <> newid())"],
    ["property('a') = 1", "(property('a') = 1)"],
    ["P('sys.Label') = 'x'", "(property('sys.Label') = 'x')"],
    ["p(a + 'b') = 1", "(property((user.[a] + 'b')) = 1)"],
    // Layout
    ["a=1AND b=2", "((user.[a] = 1) AND (user.[b] = 2))"],
    ["\ta\n=\r\n1 ", "(user.[a] = 1)"],
    [
      "sys.Label LIKE '%bus%' OR user.tag IN ('queue', 'topic', 'subscription')",
      "((sys.[Label] LIKE '%bus%') OR (user.[tag] IN ('queue', 'topic', 'subscription')))",
    ],
    [
      "sys.To NOT IN ('Store1','Store2') OR StoreId NOT IN ('Store1','Store2')",
      "((sys.[To] NOT IN ('Store1', 'Store2')) OR (user.[StoreId] NOT IN ('Store1', 'Store2')))",
    ],
  ];

  it.each(cases)("%s", (expression, expected) => {
    const printed = formatNode(parseFilter(expression));
    expect(printed).toBe(expected);
    // The printed form is itself valid and means the same thing.
    expect(formatNode(parseFilter(printed))).toBe(expected);
  });
});

describe("parseFilter: invalid expressions", () => {
  // [expression, position, message]; the message is matched exactly when it ends with the position.
  const cases: [string, number, string][] = [
    ["", 0, "expected a condition but found end of input at position 0"],
    ["   ", 3, "expected a condition but found end of input at position 3"],
    ["a", 1, "expected a comparison operator, IN, LIKE or IS but found end of input at position 1"],
    ["a =", 3, "expected an expression but found end of input at position 3"],
    ["(a = 1", 6, "expected ')' but found end of input at position 6"],
    ["sys.Label = 'x' AND (user.a = 1", 31, "expected ')' but found end of input at position 31"],
    ["a = 1)", 5, "expected AND, OR or end of input but found ')' at position 5"],
    ["a = 1 = 2", 6, "expected AND, OR or end of input but found '=' at position 6"],
    ["a = 1 b = 2", 6, "expected AND, OR or end of input but found identifier b at position 6"],
    ["a == 1", 3, "expected an expression but found '=' at position 3"],
    ["a b", 2, "expected a comparison operator, IN, LIKE or IS but found identifier b at position 2"],
    ["a AND b = 1", 2, "expected a comparison operator, IN, LIKE or IS but found AND at position 2"],
    [
      "a = 1 AND b",
      11,
      "expected a comparison operator, IN, LIKE or IS but found end of input at position 11",
    ],
    ["a = 1 AND", 9, "expected an expression but found end of input at position 9"],
    ["AND a = 1", 0, "expected an expression but found AND at position 0"],
    ["NOT a", 5, "expected a comparison operator, IN, LIKE or IS but found end of input at position 5"],
    ["TRUE", 4, "expected a comparison operator, IN, LIKE or IS but found end of input at position 4"],
    ["a = NOT b", 4, "expected an expression but found NOT at position 4"],
    ["(a = 1) + 1", 0, "expected an expression but found a condition at position 0"],
    ["a = (b = 1)", 4, "expected an expression but found a condition at position 4"],
    ["(a = 1) = TRUE", 0, "expected an expression but found a condition at position 0"],
    ["user.a.b = 1", 6, "expected a comparison operator, IN, LIKE or IS but found '.' at position 6"],
    ["a NOT = 1", 6, "expected IN or LIKE after NOT but found '=' at position 6"],
    ["a IS 1", 5, "expected NULL but found number 1 at position 5"],
    ["a IS NOT 1", 9, "expected NULL but found number 1 at position 9"],
    ["1 IS NULL", 0, "IS [NOT] NULL applies to a property at position 0"],
    ["newid() IS NULL", 0, "IS [NOT] NULL applies to a property at position 0"],
    ["a IN ()", 6, "expected an expression but found ')' at position 6"],
    ["a IN (1, )", 9, "expected an expression but found ')' at position 9"],
    ["a IN (1 2)", 8, "expected ')' but found number 2 at position 8"],
    ["a IN 1", 5, "expected '(' but found number 1 at position 5"],
    ["a LIKE", 6, "expected an expression but found end of input at position 6"],
    ["a LIKE 'x' ESCAPE", 17, "expected an expression but found end of input at position 17"],
    ["EXISTS(1)", 7, "expected a property name but found number 1 at position 7"],
    ["EXISTS a", 7, "expected '(' but found identifier a at position 7"],
    ["EXISTS(a", 8, "expected ')' but found end of input at position 8"],
    ["EXISTS(a) = 1", 0, "expected an expression but found a condition at position 0"],
    // Lexical errors
    ["'abc", 0, "unterminated string literal at position 0"],
    ["a = 'it''s", 4, "unterminated string literal at position 4"],
    ["[abc = 1", 0, "unterminated delimited identifier at position 0"],
    ['"abc = 1', 0, "unterminated quoted identifier at position 0"],
    ["[] = 1", 0, "empty identifier at position 0"],
    ["a = 1 # 2", 6, "unexpected '#' at position 6"],
    ["a ! 1", 2, "unexpected '!' at position 2"],
    ["a = 1\u0001", 5, "unexpected character U+0001 at position 5"],
    ["_a = 1", 0, "unexpected '_' at position 0"],
    ["a = 1e", 6, "expected digits in the exponent of a number at position 6"],
    ["a = 1e+", 7, "expected digits in the exponent of a number at position 7"],
    ["a = 9223372036854775808", 4, "integer 9223372036854775808 is out of the Int64 range at position 4"],
    ["a = 1e999", 4, "number 1e999 is out of range at position 4"],
    ["@ = 1", 0, "expected a parameter name after '@' at position 0"],
    // Names, parameters, functions
    ["sys.Foo = 1", 4, "unknown system property 'sys.Foo' at position 4"],
    ["sys.[Label X] = 1", 4, "unknown system property 'sys.Label X' at position 4"],
    ["foo.bar = 1", 0, "unknown scope 'foo'; expected sys or user at position 0"],
    ["sys. = 1", 5, "expected a property name but found '=' at position 5"],
    ["user.'x' = 1", 5, "expected a property name but found string 'x' at position 5"],
    ["@missing = 1", 0, "parameter @missing is not defined at position 0"],
    [
      "foo(1) = 1",
      0,
      "unknown function 'foo'; the functions are newid(), property(name) and p(name) at position 0",
    ],
    ["newid(1) = 1", 6, "expected ')' but found number 1 at position 6"],
    ["property() = 1", 9, "expected an expression but found ')' at position 9"],
    ["property('a', 'b') = 1", 12, "expected ')' but found ',' at position 12"],
    ["[newid]() = 1", 7, "expected a comparison operator, IN, LIKE or IS but found '(' at position 7"],
  ];

  it.each(cases)("%j fails at %i", (expression, position, message) => {
    const error = syntaxError(() => parseFilter(expression));
    expect(error.position).toBe(position);
    expect(error.message).toBe(message);
    expect(error.name).toBe("SqlSyntaxError");
  });
});

describe("parseFilter: limits", () => {
  it(`accepts ${MAX_EXPRESSION_LENGTH} characters and rejects one more`, () => {
    const atLimit = `a = '${"x".repeat(MAX_EXPRESSION_LENGTH - 6)}'`;
    expect(atLimit).toHaveLength(MAX_EXPRESSION_LENGTH);
    expect(() => parseFilter(atLimit)).not.toThrow();
    const error = syntaxError(() => parseFilter(`${atLimit} `));
    expect(error.position).toBe(MAX_EXPRESSION_LENGTH);
    expect(error.message).toBe(
      `the expression is ${MAX_EXPRESSION_LENGTH + 1} characters long; the limit is ${MAX_EXPRESSION_LENGTH} at position ${MAX_EXPRESSION_LENGTH}`,
    );
  });

  it(`accepts parentheses nested ${MAX_NESTING_DEPTH - 1} deep and rejects deeper`, () => {
    const nested = (n: number) => `${"(".repeat(n)}a = 1${")".repeat(n)}`;
    expect(formatNode(parseFilter(nested(MAX_NESTING_DEPTH - 1)))).toBe("(user.[a] = 1)");
    const error = syntaxError(() => parseFilter(nested(MAX_NESTING_DEPTH)));
    expect(error.position).toBe(MAX_NESTING_DEPTH);
    expect(error.message).toBe(
      `the expression is nested more than ${MAX_NESTING_DEPTH} levels deep at position ${MAX_NESTING_DEPTH}`,
    );
  });

  it.each([
    ["(".repeat(MAX_EXPRESSION_LENGTH)],
    ["-".repeat(MAX_EXPRESSION_LENGTH - 5) + "1 = 1"],
    ["NOT ".repeat(250) + "a = 1"],
    ["a = " + "(".repeat(500) + "1" + ")".repeat(500)],
    ["a IN (" + "(".repeat(300) + "1" + ")".repeat(300) + ")"],
    ["a = " + "p(".repeat(300) + "'x'" + ")".repeat(300)],
  ])("rejects hostile nesting without exhausting the stack (%#)", (expression) => {
    const error = syntaxError(() => parseFilter(expression));
    expect(error.message).toMatch(/nested more than \d+ levels deep/);
  });

  it("handles long flat chains iteratively", () => {
    const chain = Array.from({ length: 80 }, (_, i) => `a${i} = ${i}`).join(" OR ");
    expect(chain.length).toBeLessThanOrEqual(MAX_EXPRESSION_LENGTH);
    expect(formatNode(parseFilter(chain))).toMatch(/^\({79}\(user\.\[a0\] = 0\) OR/);
    const sum = `a = ${Array.from({ length: 500 }, () => "1").join("+")}`;
    expect(() => parseFilter(sum)).not.toThrow();
  });

  it("keeps Int64 constants (with a double's precision beyond 2^53)", () => {
    expect(formatNode(parseFilter("a = 9223372036854775807"))).toBe("(user.[a] = 9223372036854776000)");
  });

  it("rejects a non-string expression", () => {
    const error = syntaxError(() => parseFilter(42 as unknown as string));
    expect(error.position).toBe(0);
  });
});

describe("parseFilter: parameters", () => {
  const cases: [string, SqlParameters, string][] = [
    ["a = @p", { "@p": "x" }, "(user.[a] = 'x')"],
    ["a = @p", { p: "x" }, "(user.[a] = 'x')"],
    ["a = @P", { "@p": 1 }, "(user.[a] = 1)"],
    ["a = @p", { "@p": 2.5 }, "(user.[a] = 2.5)"],
    ["a = @p", { "@p": true }, "(user.[a] = TRUE)"],
    ["a = @p", { "@p": new Date("2024-01-02T03:04:05Z") }, "(user.[a] = <date 2024-01-02T03:04:05.000Z>)"],
    ["a IN (@x, @y)", { "@x": "1", "@y": "2" }, "(user.[a] IN ('1', '2'))"],
    ["source = @stringParam", { "@stringParam": "orders" }, "(user.[source] = 'orders')"],
  ];
  it.each(cases)("%s with %j", (expression, parameters, expected) => {
    expect(formatNode(parseFilter(expression, parameters))).toBe(expected);
  });

  it("prefers an exact parameter name over a case-insensitive match", () => {
    expect(formatNode(parseFilter("a = @p", { "@P": 1, "@p": 2 }))).toBe("(user.[a] = 2)");
  });

  it("rejects a parameter of an unsupported type", () => {
    const error = syntaxError(() => parseFilter("a = @p", { "@p": null } as unknown as SqlParameters));
    expect(error.message).toBe("parameter @p must be a string, number, boolean or Date at position 4");
  });
});

describe("parseAction", () => {
  const valid: [string, string][] = [
    ["SET a = 1", "SET user.[a] = 1"],
    ["set a = 1 remove b", "SET user.[a] = 1; REMOVE user.[b]"],
    ["SET sys.Label = 'x'; REMOVE b;", "SET sys.[Label] = 'x'; REMOVE user.[b]"],
    [
      "SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
      "SET user.[quantity] = (user.[quantity] / 2); REMOVE user.[priority]; SET sys.[CorrelationId] = 'low'",
    ],
    ["SET source='routedOrders'", "SET user.[source] = 'routedOrders'"],
    ["SET [my prop] = newid()", "SET user.[my prop] = newid()"],
    ["SET sys.subject = sys.Label + '-x'", "SET sys.[Label] = (sys.[Label] + '-x')"],
    ["SET user.set = 1 SET remove = 2", "SET user.[set] = 1; SET user.[remove] = 2"],
    ["SET sys.To = NULL", "SET sys.[To] = NULL"],
    ["REMOVE [a b]; REMOVE user.c", "REMOVE user.[a b]; REMOVE user.[c]"],
  ];
  it.each(valid)("%s", (expression, expected) => {
    const printed = formatStatements(parseAction(expression));
    expect(printed).toBe(expected);
    expect(formatStatements(parseAction(printed))).toBe(expected);
  });

  it.each([
    "MessageId",
    "CorrelationId",
    "Label",
    "Subject",
    "To",
    "ReplyTo",
    "SessionId",
    "ReplyToSessionId",
    "ContentType",
  ])("allows SET sys.%s", (name) => {
    expect(() => parseAction(`SET sys.${name} = 'x'`)).not.toThrow();
  });

  const invalid: [string, number, string][] = [
    ["", 0, "expected SET or REMOVE but found end of input at position 0"],
    ["SET", 3, "expected a property name but found end of input at position 3"],
    ["SET a", 5, "expected '=' but found end of input at position 5"],
    ["SET a 1", 6, "expected '=' but found number 1 at position 6"],
    ["SET a = ", 8, "expected an expression but found end of input at position 8"],
    ["SET a = b = c", 10, "expected ';', SET, REMOVE or end of input but found '=' at position 10"],
    ["SET a = 1 AND b", 10, "expected ';', SET, REMOVE or end of input but found AND at position 10"],
    ["SET a = (b = 1)", 8, "expected an expression but found a condition at position 8"],
    ["SET sys.Foo = 1", 8, "unknown system property 'sys.Foo' at position 8"],
    ["REMOVE", 6, "expected a property name but found end of input at position 6"],
    ["REMOVE a b", 9, "expected ';', SET, REMOVE or end of input but found identifier b at position 9"],
    ["REMOVE sys.To", 7, "REMOVE applies to user properties only, not sys.To at position 7"],
    ["SET a = 1;;", 10, "expected SET, REMOVE or end of input but found ';' at position 10"],
    ["UPDATE a = 1", 0, "expected SET or REMOVE but found identifier UPDATE at position 0"],
    ["[SET] a = 1", 0, "expected SET or REMOVE but found identifier [SET] at position 0"],
    ["SET a = @nope", 8, "parameter @nope is not defined at position 8"],
  ];
  it.each(invalid)("%j fails at %i", (expression, position, message) => {
    const error = syntaxError(() => parseAction(expression));
    expect(error.position).toBe(position);
    expect(error.message).toBe(message);
  });

  it.each([
    "DeliveryCount",
    "SequenceNumber",
    "EnqueuedTimeUtc",
    "Size",
    "TimeToLive",
    "ExpiresAtUtc",
    "LockToken",
  ])("rejects SET on read-only sys.%s", (name) => {
    const error = syntaxError(() => parseAction(`SET sys.${name} = 1`));
    expect(error.position).toBe(4);
    expect(error.message).toMatch(
      new RegExp(`^sys\\.${name} is read-only; SET can change sys\\.MessageId, `),
    );
  });
});
