/**
 * Server-Sent Events framing (WHATWG HTML "server-sent events"): pure functions from fields to the
 * text on the wire. A field value must not hold CR or LF, or a client would read the rest as another
 * field; `data` may, and is split into one `data:` line per line.
 */

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
  /** Reconnection delay the client should use, in ms. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

function field(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new RangeError(`an SSE ${name} must not contain CR, LF or NUL`);
  return `${name}: ${value}\n`;
}

/** One event: `id`, `event`, `retry`, then `data` split into lines, then a blank line. */
export function formatSseEvent(event: SseEvent): string {
  let out = "";
  if (event.id !== undefined) out += field("id", event.id);
  if (event.event !== undefined) out += field("event", event.event);
  if (event.retry !== undefined) {
    if (!Number.isSafeInteger(event.retry) || event.retry < 0)
      throw new RangeError("an SSE retry must be a whole number of ms");
    out += `retry: ${event.retry}\n`;
  }
  for (const line of event.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return `${out}\n`;
}

/** A comment line: ignored by clients, keeps idle connections open through proxies. */
export function formatSseComment(text = ""): string {
  if (/[\r\n]/.test(text)) throw new RangeError("an SSE comment must not contain CR or LF");
  return text === "" ? ":\n\n" : `: ${text}\n\n`;
}

/** The `id:` line alone, for a cursor checked once at its source (`core/cursor.ts` never emits CR/LF). */
export function sseIdLine(id: string): string {
  return `id: ${id}\n`;
}
