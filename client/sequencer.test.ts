import { describe, expect, it } from "vitest";
import type { NotRecovered } from "../core/cursor.js";
import type { Frame } from "../core/streams.js";
import { MAX_PENDING_PER_STREAM, Sequencer } from "./sequencer.js";

function frame(stream: string, offset: number, id = `${stream}#${offset}`): Frame {
  return { id, type: "t", data: null, stream, offset, ts: 0 };
}

function setup(cursor?: Map<string, number>, dedupSize = 100) {
  const delivered: string[] = [];
  const lost: NotRecovered[] = [];
  const seq = new Sequencer(
    { deliver: (f) => delivered.push(f.id), lost: (m) => lost.push(m) },
    { dedupSize, cursor },
  );
  return { seq, delivered, lost };
}

describe("Sequencer", () => {
  it("delivers in offset order and advances the stream's cursor", () => {
    const { seq, delivered } = setup(new Map([["user:a", 0]]));
    seq.accept([frame("user:a", 1), frame("user:a", 2)], false);
    expect(delivered).toEqual(["user:a#1", "user:a#2"]);
    expect(seq.cursor()).toEqual(new Map([["user:a", 2]]));
    expect(seq.hasGaps()).toBe(false);
  });

  it("without gap fill, starts unseeded streams at their first frame and marks gaps lost", () => {
    const { seq, delivered, lost } = setup(new Map([["user:a", 1]]));
    // WebSocket frames: user:a skips 2..3; group:g has no position yet.
    seq.accept([frame("user:a", 4), frame("user:a", 5), frame("group:g", 7), frame("group:g", 8)], false);
    expect(delivered).toEqual([]);
    seq.skipGaps("unavailable");
    expect(delivered).toEqual(["user:a#4", "user:a#5", "group:g#7", "group:g#8"]);
    expect(lost).toEqual([{ stream: "user:a", after: 1, resumeAfter: 3, reason: "unavailable" }]);
    expect(seq.cursor()).toEqual(
      new Map([
        ["user:a", 5],
        ["group:g", 8],
      ]),
    );
    expect(seq.hasGaps() || seq.hasUnseeded()).toBe(false);
  });

  it("holds frames past a gap, reports the gap, and releases them when it closes", () => {
    const { seq, delivered } = setup(new Map([["user:a", 1]]));
    seq.accept([frame("user:a", 4), frame("user:a", 3)], false);
    expect(delivered).toEqual([]);
    expect(seq.hasGaps()).toBe(true);
    expect(seq.gapCursor()).toEqual(new Map([["user:a", 1]]));
    seq.accept([frame("user:a", 2)], true, true);
    expect(delivered).toEqual(["user:a#2", "user:a#3", "user:a#4"]);
    expect(seq.hasGaps()).toBe(false);
    expect(seq.gapCursor()).toEqual(new Map());
  });

  it("drops repeats by offset and the same notification arriving in another stream by id", () => {
    const { seq, delivered } = setup(
      new Map([
        ["user:a", 0],
        ["broadcast", 7],
      ]),
    );
    seq.accept([frame("user:a", 1, "n1"), frame("broadcast", 8, "n1"), frame("user:a", 1, "n1")], false);
    expect(delivered).toEqual(["n1"]);
    expect(seq.cursor()).toEqual(
      new Map([
        ["user:a", 1],
        ["broadcast", 8],
      ]),
    );
    expect(seq.hasGaps()).toBe(false);
  });

  it("trusted frames start a stream without a position at their offset; untrusted ones wait for a seed", () => {
    const { seq, delivered } = setup();
    seq.accept([frame("group:g", 5)], true);
    expect(delivered).toEqual(["group:g#5"]);
    seq.accept([frame("user:a", 9), frame("user:a", 10)], false);
    expect(delivered).toEqual(["group:g#5"]);
    expect(seq.hasUnseeded()).toBe(true);
    expect(seq.hasGaps()).toBe(false);
    // The position was read after these arrived live: they still count as new.
    seq.seed(new Map([["user:a", 10]]));
    expect(delivered).toEqual(["group:g#5", "user:a#9", "user:a#10"]);
    expect(seq.cursor().get("user:a")).toBe(10);
    expect(seq.hasUnseeded()).toBe(false);
  });

  it("a seed does not move a stream that has a position", () => {
    const { seq } = setup(new Map([["user:a", 3]]));
    seq.seed(
      new Map([
        ["user:a", 9],
        ["broadcast", 2],
      ]),
    );
    expect(seq.cursor()).toEqual(
      new Map([
        ["user:a", 3],
        ["broadcast", 2],
      ]),
    );
  });

  it("a not-recovered marker moves the cursor past the lost range and tells the app", () => {
    const { seq, delivered, lost } = setup(new Map([["broadcast", 5]]));
    seq.accept([frame("broadcast", 21), frame("broadcast", 22)], false);
    const marker: NotRecovered = { stream: "broadcast", after: 5, resumeAfter: 20, reason: "retention" };
    seq.lost(marker);
    expect(lost).toEqual([marker]);
    expect(delivered).toEqual(["broadcast#21", "broadcast#22"]);
    expect(seq.cursor().get("broadcast")).toBe(22);
  });

  it("a reset marker moves the cursor back so the new numbering is read from its start", () => {
    const { seq, delivered } = setup(new Map([["user:a", 5]]));
    seq.lost({ stream: "user:a", after: 5, resumeAfter: 0, reason: "reset" });
    seq.accept([frame("user:a", 1, "new1")], true, true);
    expect(delivered).toEqual(["new1"]);
    expect(seq.cursor().get("user:a")).toBe(1);
  });

  it("an unseen id at an old offset marks the stream suspect; a fill from below delivers what is new", () => {
    const { seq, delivered } = setup(new Map([["user:a", 5]]));
    seq.accept([frame("user:a", 2, "fresh2")], false);
    expect(delivered).toEqual([]);
    expect(seq.hasGaps()).toBe(true);
    expect(seq.gapCursor()).toEqual(new Map([["user:a", 1]]));
    // The gateway's store restarted its numbering: offsets 1..3 are new notifications.
    seq.accept([frame("user:a", 2, "fresh2"), frame("user:a", 3, "fresh3")], true, true);
    seq.filled(["user:a"]);
    expect(delivered).toEqual(["fresh2", "fresh3"]);
    expect(seq.hasGaps()).toBe(false);
    expect(seq.cursor().get("user:a")).toBe(5);
  });

  it("gapCursor(all) names every stream with a position", () => {
    const { seq } = setup(
      new Map([
        ["user:a", 2],
        ["broadcast", 0],
      ]),
    );
    expect(seq.gapCursor(true)).toEqual(
      new Map([
        ["user:a", 2],
        ["broadcast", 0],
      ]),
    );
  });

  it("holds a bounded number of frames per stream (the fill reads the rest)", () => {
    const { seq, delivered } = setup(new Map([["user:a", 0]]));
    const frames: Frame[] = [];
    for (let i = 2; i <= MAX_PENDING_PER_STREAM + 50; i++) frames.push(frame("user:a", i));
    seq.accept(frames, false);
    seq.accept([frame("user:a", 1)], true, true);
    expect(delivered).toHaveLength(MAX_PENDING_PER_STREAM + 1);
    expect(seq.cursor().get("user:a")).toBe(MAX_PENDING_PER_STREAM + 1);
  });

  it("forgets old ids beyond its dedup size (bounded memory)", () => {
    const { seq, delivered } = setup(
      new Map([
        ["user:a", 0],
        ["broadcast", 0],
      ]),
      2,
    );
    seq.accept([frame("user:a", 1, "x"), frame("user:a", 2, "y"), frame("user:a", 3, "z")], true);
    // "x" was forgotten: a copy in another stream shows again. That is the price of bounded memory.
    seq.accept([frame("broadcast", 1, "x"), frame("broadcast", 2, "z")], true);
    expect(delivered).toEqual(["x", "y", "z", "x"]);
  });
});
