import { describe, expect, it } from "vitest";
import {
  attributeOf,
  childElements,
  childNamed,
  el,
  escapeAttribute,
  parseXml,
  textOf,
  xmlDocument,
  XmlSyntaxError,
  type XmlElement,
} from "./xml.js";

function syntaxError(text: string): XmlSyntaxError {
  try {
    parseXml(text);
  } catch (err) {
    if (err instanceof XmlSyntaxError) return err;
    throw err;
  }
  throw new Error(`parsed without error: ${text}`);
}

describe("parseXml", () => {
  it("reads elements, attributes, text, namespaces and references", () => {
    const root = parseXml(
      '\uFEFF<?xml version="1.0" encoding="utf-8"?>\n<!-- c --><a xmlns="urn:a" xmlns:i="urn:i" i:type=\'x:T\' plain="1 &amp; 2">' +
        "<b>x &lt; y &#65;&#x42; &quot;q&quot; &apos;</b><?pi data?><!-- inner --><i:c/><![CDATA[<raw & text>]]></a>\n<!-- after -->",
    );
    expect(root).toMatchObject({ name: "a", local: "a", ns: "urn:a" });
    expect(attributeOf(root, "urn:i", "type")).toBe("x:T");
    expect(attributeOf(root, "", "plain")).toBe("1 & 2");
    const [b, c] = childElements(root);
    expect(textOf(b as XmlElement)).toBe(`x < y AB "q" '`);
    expect(c).toMatchObject({ name: "i:c", local: "c", ns: "urn:i", children: [] });
    expect(childNamed(root, "c", "urn:i")).toBe(c);
    expect(childNamed(root, "c", "urn:a")).toBeUndefined();
    expect(root.children.filter((x) => typeof x === "string")).toEqual(["<raw & text>"]);
  });

  it("normalizes line ends and attribute whitespace but keeps character references", () => {
    const root = parseXml('<a v="x\ty\nz&#10;">1\r\n2\r3&#13;</a>');
    expect(attributeOf(root, "", "v")).toBe("x y z\n");
    expect(textOf(root)).toBe("1\n2\n3\r");
  });

  it("resolves namespaces per scope", () => {
    const root = parseXml('<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"/><p:c/><d/></p:a>');
    expect(childElements(root).map((e) => [e.local, e.ns])).toEqual([
      ["b", "urn:2"],
      ["c", "urn:1"],
      ["d", ""],
    ]);
  });

  it.each([
    ["", "document is empty"],
    ["   ", "document is empty"],
    ["text<a/>", "expected the root element"],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "DTDs are not allowed"],
    ["<a>&x;</a>", "undefined entity &x;"],
    ["<a>&amp</a>", "unterminated entity reference"],
    ["<a>&#0;</a>", "invalid character reference"],
    ["<a>&#xD800;</a>", "invalid character reference"],
    ["<a>\u0001</a>", "character not allowed in XML"],
    ["<a>\uD800</a>", "character not allowed in XML"],
    ["<a><b></a>", "end tag </a> does not match <b>"],
    ["<a>", "unclosed element <a>"],
    ["<a></a><b/>", "content after the root element"],
    ["<a></a>text", "content after the root element"],
    ['<a x="1" x="2"/>', "duplicate attribute x"],
    ['<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>', "duplicate attribute q:x"],
    ["<p:a/>", 'namespace prefix "p" is not declared'],
    ['<a x="<"/>', "'<' not allowed in attribute value"],
    ["<a x=1/>", "expected a quoted attribute value"],
    ['<a x="1"y="2"/>', "expected whitespace before attribute"],
    ["<a>]]></a>", "']]>' not allowed in text"],
    ["<a><!-- x</a>", "unterminated comment"],
    ["<a><![CDATA[x</a>", "unterminated CDATA section"],
    ['<a/><?xml version="1.0"?>', "XML declaration only allowed at the start"],
    ["<a><!ELEMENT a ANY></a>", "DTDs and declarations are not allowed"],
    ["</a>", "does not match"],
    ['<a xmlns:p=""/>', "bound to an empty URI"],
  ])("rejects %j: %s", (text, message) => {
    expect(syntaxError(text).message).toContain(message);
  });

  it("keeps error messages short whatever the input holds", () => {
    const err = syntaxError("<" + "a".repeat(100_000));
    expect(err.message.length).toBeLessThan(250);
    expect(err.message).toMatch(/^unterminated start tag <a+…/);
  });

  it("reports the line and column of an error", () => {
    const err = syntaxError("<a>\n  <b>\n</a>");
    expect([err.line, err.column]).toEqual([3, 1]);
    expect(err.message).toMatch(/\(line 3, column 1\)$/);
  });

  it("bounds nesting depth and element count", () => {
    expect(syntaxError("<a>".repeat(33) + "</a>".repeat(33)).message).toContain("nested deeper than 32");
    expect(() => parseXml("<a>".repeat(32) + "</a>".repeat(32))).not.toThrow();
    expect(syntaxError(`<r>${"<x/>".repeat(20_000)}</r>`).message).toContain("more than 20000 elements");
    expect(() => parseXml(`<r>${"<x/>".repeat(10)}</r>`, { maxElements: 5 })).toThrow("more than 5 elements");
    expect(() => parseXml("<a><b/></a>", { maxDepth: 1 })).toThrow("nested deeper than 1");
  });
});

describe("writer", () => {
  it("escapes text and attributes and skips absent parts", () => {
    const xml = el(
      "a",
      { x: `"<&>'\t\n`, y: undefined },
      "1 < 2 & 3 > 2",
      null,
      undefined,
      5,
      false,
      el("b", null),
    ).markup;
    expect(xml).toBe('<a x="&quot;&lt;&amp;>\'&#9;&#10;">1 &lt; 2 &amp; 3 &gt; 25false<b/></a>');
    expect(xmlDocument(el("r", null))).toBe('<?xml version="1.0" encoding="utf-8"?><r/>');
  });

  it("replaces characters XML cannot carry", () => {
    expect(el("a", null, "x\u0000y\uD800z").markup).toBe("<a>x\uFFFDy\uFFFDz</a>");
    expect(escapeAttribute("\u0007")).toBe("\uFFFD");
  });

  it("round-trips arbitrary strings through text and attributes", () => {
    // A fixed-seed generator keeps the cases reproducible.
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const alphabet = [
      "a",
      "<",
      ">",
      "&",
      '"',
      "'",
      "\t",
      "\n",
      "\r\n",
      " ",
      "]]>",
      "é",
      "😀",
      "&amp;",
      "\u2028",
    ];
    for (let i = 0; i < 300; i++) {
      let value = "";
      const length = Math.floor(random() * 20);
      for (let j = 0; j < length; j++) value += alphabet[Math.floor(random() * alphabet.length)];
      const root = parseXml(xmlDocument(el("v", { a: value }, value)));
      expect(attributeOf(root, "", "a")).toBe(value);
      expect(textOf(root)).toBe(value);
    }
  });
});
