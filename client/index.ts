/**
 * Herald's client library: `connect()` to a gateway and receive notifications over WebSocket (Web
 * PubSub), Server-Sent Events or long-polling, with fallback, resume, gap fill and de-duplication.
 * Browser-safe: no Node imports; pass `WebSocket`, `EventSource` and `fetch` where the runtime has none.
 */
export { connect, DEFAULT_TRANSPORTS } from "./connect.js";
export { CLIENT_EVENTS } from "./types.js";
export type {
  AnyNotification,
  Clock,
  ConnectOptions,
  Environment,
  EventMap,
  EventSourceFactory,
  EventSourceLike,
  FetchLike,
  Herald,
  HeraldState,
  Notification,
  NotRecovered,
  ResponseLike,
  StorageLike,
  TransportName,
  WebSocketFactory,
  WebSocketLike,
} from "./types.js";
export { HeraldError, type HeraldErrorCode } from "../core/errors.js";
