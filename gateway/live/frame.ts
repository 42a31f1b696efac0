import { SSE_EVENTS } from "../../core/live.js";
import type { Frame } from "../../core/streams.js";

/**
 * A frame serialized once for every connection it goes to: the JSON for long-polls and the SSE event
 * body (everything after the per-connection `id:` line) as one shared buffer.
 */
export class PreparedFrame {
  readonly frame: Frame;
  /** `JSON.stringify(frame)`; JSON never holds a raw line break, so it is one `data:` line. */
  readonly json: string;
  #sse: Buffer | undefined;

  constructor(frame: Frame) {
    this.frame = frame;
    this.json = JSON.stringify(frame);
  }

  get stream(): string {
    return this.frame.stream;
  }

  get offset(): number {
    return this.frame.offset;
  }

  /** `event: notification\ndata: <json>\n\n`, built on first use. */
  get sse(): Buffer {
    return (this.#sse ??= Buffer.from(`event: ${SSE_EVENTS.notification}\ndata: ${this.json}\n\n`));
  }
}
