import type { ServiceBusAdministrationClient } from "@azure/service-bus";
import type { Settings } from "../../core/config.js";
import type { Route } from "../http/server.js";
import type { GatewayMetrics } from "../metrics.js";
import {
  DASHBOARD_HTML,
  DASHBOARD_PATH,
  DASHBOARD_SCRIPT,
  DASHBOARD_SCRIPT_PATH,
  STATS_PATH,
} from "./page.js";
import { collectStats } from "./stats.js";

export { collectStats, quantile, type DashboardStats } from "./stats.js";
export { DASHBOARD_PATH, DASHBOARD_SCRIPT_PATH, STATS_PATH } from "./page.js";

/** Nothing on the page comes from elsewhere; the script is ours and values go in as text. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
};

/** `GET /dashboard`, its script, and `GET /api/stats` (JSON from the metrics registry). */
export function dashboardRoutes(metrics: GatewayMetrics): Route[] {
  const html = Buffer.from(DASHBOARD_HTML);
  const script = Buffer.from(DASHBOARD_SCRIPT);
  return [
    {
      method: "GET",
      path: DASHBOARD_PATH,
      raw: (req, res) => {
        res.writeHead(200, {
          ...PAGE_HEADERS,
          "content-type": "text/html; charset=utf-8",
          "content-length": html.length,
        });
        res.end(req.method === "HEAD" ? undefined : html);
      },
    },
    {
      method: "GET",
      path: DASHBOARD_SCRIPT_PATH,
      raw: (req, res) => {
        res.writeHead(200, {
          ...PAGE_HEADERS,
          "content-type": "text/javascript; charset=utf-8",
          "content-length": script.length,
        });
        res.end(req.method === "HEAD" ? undefined : script);
      },
    },
    {
      method: "GET",
      path: STATS_PATH,
      handler: async () => ({
        status: 200,
        headers: { "cache-control": "no-store" },
        json: await collectStats(metrics.registry),
      }),
    },
  ];
}

/**
 * How the gateway reads its subscription's dead-letter queue depth by default: the runtime properties
 * through the management API (for the emulator, at HERALD_SERVICEBUS_MANAGEMENT_URL or port 5300 of its
 * Endpoint host; see `serviceBusManagementUrl`).
 */
export function deadLetterCountFromSettings(
  settings: Settings,
  admin: ServiceBusAdministrationClient,
): (() => Promise<number>) | undefined {
  if (!settings.HERALD_SERVICEBUS && !settings.HERALD_SERVICEBUS__fullyQualifiedNamespace) return undefined;
  return async () => {
    const properties = await admin.getSubscriptionRuntimeProperties(
      settings.HERALD_TOPIC,
      settings.HERALD_SUBSCRIPTION,
    );
    return properties.deadLetterMessageCount;
  };
}
