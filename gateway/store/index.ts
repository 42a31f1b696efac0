/** The stream store: what the gateway's consumer, HTTP read API and transports use. */
export type {
  AppendEntry,
  AppendResult,
  ReadResult,
  RetentionOptions,
  StreamStore,
  StreamStoreErrorCode,
  StreamStoreOptions,
  StreamStoreStats,
} from "./types.js";
export { isStreamStoreError, StreamStoreError } from "./types.js";
export {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_COUNT,
  DEFAULT_SWEEP_INTERVAL_MS,
  MAX_READ_LIMIT,
} from "./common.js";
export { MemoryStreamStore, type MemoryStreamStoreOptions } from "./memory.js";
export {
  DEFAULT_TABLE_NAME,
  DEFAULT_TABLE_SWEEP_INTERVAL_MS,
  TableStreamStore,
  type TableConnection,
  type TableStreamStoreOptions,
} from "./table.js";
