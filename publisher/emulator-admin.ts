/**
 * How an unmodified `ServiceBusAdministrationClient` (@azure/service-bus 7.9.x) reaches the
 * emulator's plain-HTTP management endpoint.
 *
 * The client always sends `https://<namespace>/<path>`, and in 7.9.5 it builds its own
 * pipeline and ignores the `httpClient` and `additionalPolicies` options. The one transport
 * option it does pass through is `agent`: the agent below opens a plain TCP connection to the
 * management endpoint instead of a TLS one, so the SDK's requests, signing and parsing stay
 * exactly as they are against Azure.
 */
import https from "node:https";
import net from "node:net";
import type { Duplex } from "node:stream";

/**
 * An `https.Agent` whose connections are plain TCP to one local endpoint, whatever host the
 * request names. Only for the emulator: it carries the SDK's HTTP/1.1 without TLS.
 */
export class EmulatorManagementAgent extends https.Agent {
  readonly target: { host: string; port: number };

  constructor(managementUrl: string | URL) {
    // Idle sockets are dropped before the server's 5 s keep-alive ends, so a request never
    // races the server closing the socket it was about to reuse.
    super({ keepAlive: true, timeout: 4_000 });
    let url: URL;
    try {
      url = new URL(managementUrl);
    } catch {
      throw new TypeError(`the management URL "${String(managementUrl)}" is not a URL`);
    }
    if (url.protocol !== "http:")
      throw new TypeError(`the management URL must be http://host:port, got "${url.protocol}"`);
    this.target = { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80) };
  }

  override createConnection(): Duplex {
    // Tries ::1 and 127.0.0.1 in turn when the host is `localhost`.
    return net.connect({ host: this.target.host, port: this.target.port, autoSelectFamily: true });
  }
}

/** The options object to pass as the last argument of `new ServiceBusAdministrationClient(...)`. */
export interface EmulatorAdministrationOptions {
  /** Route every request to the emulator; call `agent.destroy()` to drop idle connections. */
  agent: EmulatorManagementAgent;
}

/**
 * Options that make `ServiceBusAdministrationClient` talk to the emulator's management
 * endpoint. Use the same connection string as for `ServiceBusClient`.
 *
 * @example
 * const admin = new ServiceBusAdministrationClient(
 *   "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
 *   emulatorAdministrationOptions("http://localhost:5300"),
 * );
 * await admin.createQueue("orders");
 */
export function emulatorAdministrationOptions(managementUrl: string | URL): EmulatorAdministrationOptions {
  return { agent: new EmulatorManagementAgent(managementUrl) };
}
