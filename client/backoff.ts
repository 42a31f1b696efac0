/**
 * Reconnect delay for attempt `attempt` (0 for the first retry): `minMs` plus a uniformly random part
 * of `min(maxMs, minMs * 2^attempt)` ("full jitter", so clients that dropped together spread out),
 * never above `maxMs`.
 *
 * @example
 * backoffDelay(0, 500, 30_000, Math.random) // 500..1000
 * backoffDelay(10, 500, 30_000, Math.random) // 500..30000
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const step = Math.max(0, Math.min(attempt, 30));
  const ceiling = Math.min(maxMs, minMs * 2 ** step);
  return Math.min(maxMs, minMs + Math.floor(random() * ceiling));
}
