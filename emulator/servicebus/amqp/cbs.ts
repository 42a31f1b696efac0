/**
 * `$cbs` claims-based security: the client puts a token for each audience before attaching
 * links. The emulator accepts any well-formed token whose audience names this namespace; it
 * does not check signatures (there is no secret to check them against).
 */
import type { Delivery, Receiver } from "rhea";
import { acceptedOutcome, decodeRequest, encodeResponse, type AmqpRequest } from "./rhea.js";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export interface CbsResult {
  status: number;
  description: string;
}

/** Validates one put-token request; pure, so it is unit-tested directly. */
export function checkPutToken(
  namespace: string,
  props: Record<string, unknown>,
  body: unknown,
): CbsResult & { audience?: string } {
  if (props["operation"] !== "put-token") {
    return {
      status: 400,
      description: `Unsupported $cbs operation '${String(props["operation"])}'; only put-token is.`,
    };
  }
  const audience = props["name"];
  const type = props["type"];
  if (typeof audience !== "string" || audience === "") {
    return { status: 400, description: "put-token needs the audience in application property 'name'." };
  }
  if (type !== "servicebus.windows.net:sastoken" && type !== "jwt") {
    return {
      status: 400,
      description: `Unsupported token type '${String(type)}'; use servicebus.windows.net:sastoken or jwt.`,
    };
  }
  const token = Buffer.isBuffer(body) ? body.toString("utf8") : body;
  if (typeof token !== "string" || !wellFormed(type, token)) {
    return { status: 401, description: "The token is malformed." };
  }
  let url: URL;
  try {
    url = new URL(audience);
  } catch {
    return { status: 401, description: `The audience '${audience}' is not a URL.` };
  }
  const host = url.hostname.toLowerCase();
  const ns = namespace.toLowerCase();
  if (!LOOPBACK_HOSTS.has(host) && host !== ns && !host.startsWith(`${ns}.`)) {
    return {
      status: 401,
      description: `The token audience '${audience}' does not name this namespace (localhost or ${namespace}).`,
    };
  }
  return { status: 202, description: "Accepted", audience };
}

function wellFormed(type: string, token: string): boolean {
  if (type === "jwt") return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
  const m = /^SharedAccessSignature (.+)$/.exec(token);
  if (!m) return false;
  const fields = new Map<string, string>();
  for (const part of m[1]!.split("&")) {
    const i = part.indexOf("=");
    if (i <= 0) return false;
    fields.set(part.slice(0, i).toLowerCase(), part.slice(i + 1));
  }
  return fields.has("sr") && fields.has("sig") && /^\d+$/.test(fields.get("se") ?? "");
}

export class CbsHandler {
  constructor(private readonly namespace: string) {}

  handle(
    _link: Receiver,
    delivery: Delivery,
    payload: Buffer,
    reply: (payload: Buffer, to: string | undefined) => void,
  ): void {
    delivery.update(true, acceptedOutcome());
    let request: AmqpRequest;
    try {
      request = decodeRequest(payload);
    } catch {
      return; // nothing to correlate a reply with
    }
    const result = checkPutToken(this.namespace, request.application_properties ?? {}, request.body);
    const to = typeof request.reply_to === "string" ? request.reply_to : undefined;
    const response = encodeResponse({
      correlation_id: request.message_id,
      to,
      application_properties: {
        "status-code": result.status,
        "status-description": result.description,
        ...(result.status >= 300
          ? {
              "error-condition":
                result.status === 401 ? "amqp:unauthorized-access" : "com.microsoft:argument-error",
            }
          : {}),
      },
    });
    reply(response, to);
  }
}
