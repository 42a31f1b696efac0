import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TimerWheel } from "./timers.js";

describe("TimerWheel", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires entries in time order, skips cancelled ones, and holds only pending ones", () => {
    const wheel = new TimerWheel((e) => {
      throw e;
    });
    const now = Date.now();
    const fired: number[] = [];
    const handles = [50, 10, 30, 20, 40].map((d) => wheel.at(now + d, () => fired.push(d)));
    wheel.cancel(handles[2]); // 30
    wheel.cancel(handles[2]); // twice is fine
    expect(wheel.size).toBe(4);
    vi.advanceTimersByTime(25);
    expect(fired).toEqual([10, 20]);
    wheel.at(now + 26, () => fired.push(26));
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([10, 20, 26, 40, 50]);
    expect(wheel.size).toBe(0);
    wheel.close();
  });

  it("keeps the heap consistent under random inserts and cancels", () => {
    const wheel = new TimerWheel((e) => {
      throw e;
    });
    const now = Date.now();
    const fired: number[] = [];
    const live = new Map<number, ReturnType<TimerWheel["at"]>>();
    let seed = 7;
    const rand = (): number => (seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const d = Math.floor(rand() * 1000);
      const id = i;
      live.set(
        id,
        wheel.at(now + d, () => fired.push(d)),
      );
      if (rand() < 0.4) {
        const keys = [...live.keys()];
        const k = keys[Math.floor(rand() * keys.length)]!;
        wheel.cancel(live.get(k));
        live.delete(k);
      }
    }
    expect(wheel.size).toBe(live.size);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(live.size);
    expect(fired).toEqual([...fired].sort((a, b) => a - b));
    wheel.close();
  });

  it("reports a throwing callback and keeps going", () => {
    const errors: unknown[] = [];
    const wheel = new TimerWheel((e) => errors.push(e));
    const now = Date.now();
    let ran = false;
    wheel.at(now + 1, () => {
      throw new Error("boom");
    });
    wheel.at(now + 2, () => (ran = true));
    vi.advanceTimersByTime(10);
    expect(errors).toHaveLength(1);
    expect(ran).toBe(true);
    wheel.close();
  });
});
