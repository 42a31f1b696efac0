/**
 * A small, strict XML 1.0 reader and writer for the ATOM management API. Dependency-free and
 * safe by construction: no DTDs, no external or custom entities (only the five predefined ones
 * and character references), bounded depth and element count, namespaces resolved.
 */

export const XMLNS_NS = "http://www.w3.org/2000/xmlns/";
const XML_NS = "http://www.w3.org/XML/1998/namespace";

export interface XmlAttribute {
  /** The qualified name as written, e.g. `i:type`. */
  readonly name: string;
  readonly local: string;
  /** Namespace URI; "" for unprefixed attributes. */
  readonly ns: string;
  readonly value: string;
}

export interface XmlElement {
  readonly name: string;
  readonly local: string;
  /** Namespace URI; "" when none is in scope. */
  readonly ns: string;
  readonly attributes: readonly XmlAttribute[];
  /** Child elements and text (entity references already decoded). */
  readonly children: readonly (XmlElement | string)[];
}

export class XmlSyntaxError extends Error {
  override readonly name = "XmlSyntaxError";
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    // Messages quote names from the input; keep them short whatever the input holds.
    super(`${message.length > 160 ? `${message.slice(0, 160)}…` : message} (line ${line}, column ${column})`);
  }
}

export interface XmlLimits {
  /** @default 32 */
  maxDepth?: number;
  /** @default 20_000 */
  maxElements?: number;
}

// Approximates the XML Name production; wide enough for every name the ATOM API uses.
const NAME =
  /[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9._\u00B7\u00C0-\uFFFF]*(?::[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9._\u00B7\u00C0-\uFFFF]*)?/y;
// Characters XML 1.0 forbids anywhere, including lone surrogates.
/* eslint-disable no-control-regex -- matching control characters is the point */
const FORBIDDEN_CHAR =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/* eslint-enable no-control-regex */
const PREDEFINED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

interface MutableElement {
  name: string;
  local: string;
  ns: string;
  attributes: XmlAttribute[];
  children: (XmlElement | string)[];
  scope: Map<string, string>;
}

/** Parses a complete document and returns its root element. Throws `XmlSyntaxError`. */
export function parseXml(text: string, limits: XmlLimits = {}): XmlElement {
  const maxDepth = limits.maxDepth ?? 32;
  const maxElements = limits.maxElements ?? 20_000;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const fail = (message: string, at = pos): never => {
    const before = text.slice(0, at);
    const line = before.split("\n").length;
    const column = at - before.lastIndexOf("\n");
    throw new XmlSyntaxError(message, line, column);
  };

  const bad = FORBIDDEN_CHAR.exec(text);
  if (bad) fail("character not allowed in XML", bad.index);
  // End-of-line handling (XML 1.0 section 2.11); a CR that must survive is written as &#13;.
  text = text.replace(/\r\n?/g, "\n");

  const startsWith = (s: string): boolean => text.startsWith(s, pos);
  const skipSpace = (): void => {
    while (pos < text.length && " \t\r\n".includes(text.charAt(pos))) pos++;
  };
  const readName = (what: string): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) fail(`expected ${what}`);
    pos = NAME.lastIndex;
    return (m as RegExpExecArray)[0];
  };
  const skipUntil = (end: string, what: string): number => {
    const at = text.indexOf(end, pos);
    if (at < 0) fail(`unterminated ${what}`);
    const start = pos;
    pos = at + end.length;
    return start;
  };
  const decode = (raw: string, offset: number): string =>
    raw.includes("&")
      ? raw.replace(/&([^;&<]*);?/g, (whole, ref: string, index: number) => {
          if (!whole.endsWith(";")) fail("unterminated entity reference", offset + index);
          if (ref.startsWith("#")) {
            const code = /^#x[0-9A-Fa-f]{1,6}$/.test(ref)
              ? parseInt(ref.slice(2), 16)
              : /^#[0-9]{1,7}$/.test(ref)
                ? parseInt(ref.slice(1), 10)
                : NaN;
            const ok =
              code === 0x9 ||
              code === 0xa ||
              code === 0xd ||
              (code >= 0x20 && code <= 0xd7ff) ||
              (code >= 0xe000 && code <= 0xfffd) ||
              (code >= 0x10000 && code <= 0x10ffff);
            if (!ok) fail(`invalid character reference &${ref};`, offset + index);
            return String.fromCodePoint(code);
          }
          const value = PREDEFINED[ref];
          if (value === undefined) fail(`undefined entity &${ref};`, offset + index);
          return value as string;
        })
      : raw;
  const skipMisc = (allowDecl: boolean): void => {
    for (;;) {
      skipSpace();
      if (startsWith("<?")) {
        const at = pos;
        pos += 2;
        const target = readName("processing instruction target");
        if (target.toLowerCase() === "xml" && !(allowDecl && at === (text.charCodeAt(0) === 0xfeff ? 1 : 0)))
          fail("XML declaration only allowed at the start", at);
        skipUntil("?>", "processing instruction");
      } else if (startsWith("<!--")) {
        pos += 4;
        skipUntil("-->", "comment");
      } else if (startsWith("<!DOCTYPE") || startsWith("<!doctype")) {
        fail("DTDs are not allowed");
      } else {
        return;
      }
      allowDecl = false;
    }
  };

  const resolve = (qname: string, scope: Map<string, string>, isAttribute: boolean): [string, string] => {
    const colon = qname.indexOf(":");
    if (colon < 0) return [qname, isAttribute ? "" : (scope.get("") ?? "")];
    const prefix = qname.slice(0, colon);
    const ns = prefix === "xml" ? XML_NS : prefix === "xmlns" ? XMLNS_NS : scope.get(prefix);
    if (ns === undefined) fail(`namespace prefix "${prefix}" is not declared`);
    return [qname.slice(colon + 1), ns as string];
  };

  skipMisc(true);
  if (!startsWith("<")) fail(pos >= text.length ? "document is empty" : "expected the root element");

  const stack: MutableElement[] = [];
  let root: MutableElement | undefined;
  let elements = 0;
  while (root === undefined || stack.length > 0) {
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      // Only reachable before the root start tag.
      if (!startsWith("<")) fail("expected the root element");
    } else if (!startsWith("<")) {
      const start = pos;
      const end = text.indexOf("<", pos);
      if (end < 0) fail(`unclosed element <${parent.name}>`, text.length);
      pos = end;
      const raw = text.slice(start, end);
      if (raw.includes("]]>")) fail("']]>' not allowed in text", start + raw.indexOf("]]>"));
      parent.children.push(decode(raw, start));
      continue;
    }

    if (startsWith("</")) {
      const at = pos;
      pos += 2;
      const name = readName("element name");
      skipSpace();
      if (!startsWith(">")) fail("expected '>'");
      pos++;
      const open = stack.pop();
      if (open === undefined || open.name !== name)
        fail(`end tag </${name}> does not match <${open?.name ?? ""}>`, at);
      continue;
    }
    if (parent !== undefined && startsWith("<!--")) {
      pos += 4;
      skipUntil("-->", "comment");
      continue;
    }
    if (parent !== undefined && startsWith("<![CDATA[")) {
      pos += 9;
      const start = skipUntil("]]>", "CDATA section");
      parent.children.push(text.slice(start, pos - 3));
      continue;
    }
    if (parent !== undefined && startsWith("<?")) {
      pos += 2;
      readName("processing instruction target");
      skipUntil("?>", "processing instruction");
      continue;
    }
    if (startsWith("<!")) fail("DTDs and declarations are not allowed");

    // Start tag.
    const tagAt = pos;
    pos++;
    const name = readName("element name");
    const rawAttributes: { name: string; value: string }[] = [];
    const rawNames = new Set<string>();
    let selfClosing = false;
    for (;;) {
      const hadSpace = pos < text.length && " \t\r\n".includes(text.charAt(pos));
      skipSpace();
      if (startsWith("/>")) {
        pos += 2;
        selfClosing = true;
        break;
      }
      if (startsWith(">")) {
        pos++;
        break;
      }
      if (pos >= text.length) fail(`unterminated start tag <${name}>`, tagAt);
      if (!hadSpace) fail("expected whitespace before attribute");
      const attrName = readName("attribute name");
      skipSpace();
      if (!startsWith("=")) fail(`expected '=' after attribute ${attrName}`);
      pos++;
      skipSpace();
      const quote = text.charAt(pos);
      if (quote !== '"' && quote !== "'") fail("expected a quoted attribute value");
      pos++;
      const start = skipUntil(quote, "attribute value");
      const raw = text.slice(start, pos - 1);
      if (raw.includes("<")) fail("'<' not allowed in attribute value", start + raw.indexOf("<"));
      if (rawNames.has(attrName)) fail(`duplicate attribute ${attrName}`, start);
      rawNames.add(attrName);
      // Attribute-value normalization: literal whitespace becomes a space.
      rawAttributes.push({ name: attrName, value: decode(raw.replace(/[\t\n\r]/g, " "), start) });
    }

    if (++elements > maxElements) fail(`more than ${maxElements} elements`, tagAt);
    if (stack.length >= maxDepth) fail(`elements nested deeper than ${maxDepth}`, tagAt);

    const scope = new Map(parent?.scope ?? []);
    for (const a of rawAttributes) {
      if (a.name === "xmlns") scope.set("", a.value);
      else if (a.name.startsWith("xmlns:")) {
        if (a.value === "") fail(`namespace prefix "${a.name.slice(6)}" bound to an empty URI`, tagAt);
        scope.set(a.name.slice(6), a.value);
      }
    }
    const [local, ns] = resolve(name, scope, false);
    const attributes: XmlAttribute[] = [];
    const seen = new Set<string>();
    for (const a of rawAttributes) {
      const [aLocal, aNs] = a.name === "xmlns" ? ["xmlns", XMLNS_NS] : resolve(a.name, scope, true);
      const key = `${aNs}|${aLocal}`;
      if (seen.has(key)) fail(`duplicate attribute ${a.name}`, tagAt);
      seen.add(key);
      attributes.push({ name: a.name, local: aLocal, ns: aNs, value: a.value });
    }
    const element: MutableElement = { name, local, ns, attributes, children: [], scope };
    if (parent === undefined) root = element;
    else parent.children.push(element);
    if (!selfClosing) stack.push(element);
  }

  skipMisc(false);
  if (pos < text.length) fail("content after the root element");
  return freeze(root);
}

function freeze(element: MutableElement): XmlElement {
  return {
    name: element.name,
    local: element.local,
    ns: element.ns,
    attributes: element.attributes,
    children: element.children.map((c) => (typeof c === "string" ? c : freeze(c as MutableElement))),
  };
}

/** The element children, skipping text. */
export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((c): c is XmlElement => typeof c !== "string");
}

/** The first child element with this local name (and namespace, when given). */
export function childNamed(element: XmlElement, local: string, ns?: string): XmlElement | undefined {
  return childElements(element).find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

/** The text content of an element that holds only text. */
export function textOf(element: XmlElement): string {
  return element.children.filter((c): c is string => typeof c === "string").join("");
}

/** The value of an attribute by namespace and local name. */
export function attributeOf(element: XmlElement, ns: string, local: string): string | undefined {
  return element.attributes.find((a) => a.ns === ns && a.local === local)?.value;
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Serialized markup; only `el` and `raw` make one, so text is never escaped twice or missed. */
export class XmlFragment {
  private constructor(readonly markup: string) {}
  /** @internal */
  static of(markup: string): XmlFragment {
    return new XmlFragment(markup);
  }
}

export type XmlChild = XmlFragment | string | number | boolean | null | undefined;

const FORBIDDEN_CHARS = new RegExp(FORBIDDEN_CHAR.source, "g");

/** Characters XML 1.0 cannot carry at all are replaced, so any stored string serializes. */
function clean(value: string): string {
  return value.replace(FORBIDDEN_CHARS, "\uFFFD");
}

export function escapeText(value: string): string {
  return clean(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\r/g, "&#13;");
}

export function escapeAttribute(value: string): string {
  return clean(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/"/g, "&quot;")
    .replace(/\t/g, "&#9;")
    .replace(/\n/g, "&#10;")
    .replace(/\r/g, "&#13;");
}

/**
 * An element. Attributes with an `undefined` value are left out; string, number and boolean
 * children become escaped text; `null` and `undefined` children are skipped.
 */
export function el(
  name: string,
  attributes: Record<string, string | undefined> | null,
  ...children: XmlChild[]
): XmlFragment {
  let markup = `<${name}`;
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value !== undefined) markup += ` ${key}="${escapeAttribute(value)}"`;
  }
  const content = children
    .map((c) =>
      c instanceof XmlFragment ? c.markup : c === null || c === undefined ? "" : escapeText(String(c)),
    )
    .join("");
  return XmlFragment.of(content === "" ? `${markup}/>` : `${markup}>${content}</${name}>`);
}

/** A complete document with the XML declaration. */
export function xmlDocument(root: XmlFragment): string {
  return `<?xml version="1.0" encoding="utf-8"?>${root.markup}`;
}
