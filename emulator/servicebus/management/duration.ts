/**
 * ISO-8601 durations as the ATOM API writes .NET TimeSpans (`PT1M`, `P14D`,
 * `P10675199DT2H48M5.4775807S`), to and from the model's milliseconds.
 */
import { MAX_TIMESPAN_MS } from "../model.js";

/** How the service prints TimeSpan.MaxValue ("never"); the SDK's defaults use it too. */
export const MAX_TIMESPAN_TEXT = "P10675199DT2H48M5.4775807S";

const DAY = 86_400_000;
const DURATION =
  /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export class DurationError extends Error {
  override readonly name = "DurationError";
}

/**
 * Milliseconds of an ISO-8601 duration. Years count 365 days and months 30, as .NET's
 * XmlConvert does; anything at or above the TimeSpan maximum becomes `MAX_TIMESPAN_MS`.
 */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new DurationError(`"${text}" is not an ISO-8601 duration such as PT1M or P14D`);
  const n = (i: number): number => Number(m[i] ?? 0);
  const ms =
    (n(1) * 365 + n(2) * 30 + n(3) * 7 + n(4)) * DAY + n(5) * 3_600_000 + n(6) * 60_000 + n(7) * 1000;
  if (!Number.isFinite(ms)) throw new DurationError(`duration "${text}" is out of range`);
  return Math.min(Math.round(ms), MAX_TIMESPAN_MS);
}

/** The shortest ISO-8601 form of a duration in milliseconds; the maximum prints as .NET does. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new DurationError(`cannot format duration ${ms}`);
  if (ms >= MAX_TIMESPAN_MS) return MAX_TIMESPAN_TEXT;
  const total = Math.round(ms);
  const days = Math.floor(total / DAY);
  const hours = Math.floor((total % DAY) / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  let time = "";
  if (hours) time += `${hours}H`;
  if (minutes) time += `${minutes}M`;
  if (millis)
    time += `${millis % 1000 === 0 ? millis / 1000 : (millis / 1000).toFixed(3).replace(/0+$/, "")}S`;
  if (!days && !time) return "PT0S";
  return `P${days ? `${days}D` : ""}${time ? `T${time}` : ""}`;
}
