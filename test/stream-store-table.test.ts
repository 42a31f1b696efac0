/**
 * The Table Storage stream store against a real Azurite over loopback: the shared contract, plus what
 * only this backend has (layout, key escaping, chunked data, conflicts, physical trimming).
 */
import { TableClient, type TransactionAction } from "@azure/data-tables";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HeraldError } from "../core/errors.js";
import { describeStreamStore, fakeClock, readAll } from "../gateway/store/contract.js";
import { partitionKeyOf } from "../gateway/store/keys.js";
import { TableStreamStore, type TableStreamStoreOptions } from "../gateway/store/table.js";
import { StreamStoreError, type StreamStore } from "../gateway/store/types.js";
import { startAzurite, type RunningAzurite } from "../emulator/azurite.js";

let azurite: RunningAzurite;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.close();
});

let tables = 0;
const tableOf = new WeakMap<StreamStore, string>();
function freshTable(): string {
  return `streams${process.pid}x${++tables}`;
}
async function openTable(
  tableName: string,
  options: TableStreamStoreOptions = {},
): Promise<TableStreamStore> {
  const store = await TableStreamStore.open(
    { connectionString: azurite.connectionString },
    { tableName, ...options },
  );
  tableOf.set(store, tableName);
  return store;
}
function rawClient(tableName: string): TableClient {
  return TableClient.fromConnectionString(azurite.connectionString, tableName, {
    allowInsecureConnection: true,
  });
}
async function rowKeys(tableName: string, stream: string): Promise<string[]> {
  const keys: string[] = [];
  const filter = `PartitionKey eq '${partitionKeyOf(stream).replace(/'/g, "''")}'`;
  for await (const e of rawClient(tableName).listEntities({ queryOptions: { filter, select: ["RowKey"] } })) {
    keys.push(e.rowKey!);
  }
  return keys;
}
const entry = (id: string, data: unknown = { id }) => ({ id, type: "t.e", data, ts: 1_700_000_000_000 });

describeStreamStore("table (Azurite)", {
  open: (options) => openTable(freshTable(), options),
  replica: (store, options) => openTable(tableOf.get(store)!, options),
});

describe("TableStreamStore on Azurite", () => {
  const opened: StreamStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  async function open(
    tableName = freshTable(),
    options: TableStreamStoreOptions = {},
  ): Promise<TableStreamStore> {
    const store = await openTable(tableName, { sweepIntervalMs: 0, ...options });
    opened.push(store);
    return store;
  }

  it("creates the table on open, and opens an existing one", async () => {
    const name = freshTable();
    await open(name);
    const service = rawClient(name);
    await service.createEntity({ partitionKey: "probe", rowKey: "r" }); // fails if the table is missing
    const again = await open(name);
    expect((await again.append(entry("n1"), ["user:a"])).frames[0]!.offset).toBe(1);
  });

  it("lays a stream out as one partition: head, zero-padded frame rows and a dedup row per id", async () => {
    const name = freshTable();
    const store = await open(name);
    for (let i = 1; i <= 3; i++) await store.append(entry(`n${i}`), ["group:ops"]);
    expect(await rowKeys(name, "group:ops")).toEqual([
      "d:n1",
      "d:n2",
      "d:n3",
      "f:0000000000000001",
      "f:0000000000000002",
      "f:0000000000000003",
      "head",
    ]);
    const head = await rawClient(name).getEntity("group:ops", "head");
    expect(head).toMatchObject({ stream: "group:ops", head: 3, first: 1 });
  });

  it("escapes stream ids and notification ids that Table keys cannot hold", async () => {
    const store = await open();
    const streams = ["user:a/b#c?d\\e%f", "group:été 🎉", `user:${"€".repeat(128)}`, "user:a\u0085b"];
    const odd = "id/with#odd?chars\\and%'quotes\"";
    const first = await store.append(entry(odd, "x"), streams);
    expect(first.frames.map((f) => [f.stream, f.offset])).toEqual(streams.map((s) => [s, 1]));
    const again = await store.append(entry(odd, "x"), streams);
    expect(again.duplicate).toEqual([true, true, true, true]);
    for (const stream of streams) {
      expect(await store.read(stream, 0, 10)).toMatchObject({
        head: 1,
        frames: [{ id: odd, stream, data: "x" }],
      });
    }
  });

  it("splits data over 64 KiB into chunks when the limit is raised, and rejects past the limit", async () => {
    const store = await open(freshTable(), { maxDataBytes: 300_000 });
    const data = { text: "ü".repeat(100_000), list: Array.from({ length: 1000 }, (_, i) => i) };
    await store.append(entry("big", data), ["user:big"]);
    expect((await store.read("user:big", 0, 1)).frames[0]!.data).toEqual(data);
    const err = await store.append(entry("huge", "x".repeat(300_000)), ["user:big"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).code).toBe("HERALD_PAYLOAD_TOO_LARGE");
    // Table entities cap at 1 MiB: a larger limit is a configuration error, found at open.
    const bad = await openTable(freshTable(), { maxDataBytes: 2_000_000 }).catch((e: unknown) => e);
    expect((bad as HeraldError).code).toBe("HERALD_INVALID_CONFIG");
  });

  it("rejects a bad table name or connection string at open", async () => {
    const err = await openTable("no-dashes").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).target).toBe("tableName");
    const cs = await TableStreamStore.open({ connectionString: "AccountName=x;nonsense" }).catch(
      (e: unknown) => e,
    );
    expect((cs as HeraldError).code).toBe("HERALD_INVALID_CONFIG");
    expect((cs as HeraldError).target).toBe("connectionString");
  });

  it("retries after losing the head's ETag race to another replica", async () => {
    const name = freshTable();
    const a = await open(name);
    const b = await open(name);
    await a.append(entry("a1"), ["user:race"]); // a caches the head's ETag
    await b.append(entry("b1"), ["user:race"]); // and b moves the head on
    const r = await a.append(entry("a2"), ["user:race"]); // a's If-Match fails with 412, re-reads, retries
    expect(r.frames[0]!.offset).toBe(3);
    expect(a.stats().conflicts).toBeGreaterThanOrEqual(1);
    expect((await readAll(b, "user:race")).map((f) => f.id)).toEqual(["a1", "b1", "a2"]);
  });

  it("never moves the head back: a trim from a stale cached head loses on If-Match and starts over", async () => {
    const name = freshTable();
    const late = fakeClock();
    const a = await open(name, { retention: { maxAgeMs: 1000 }, now: late.now });
    const b = await open(name, { retention: { maxAgeMs: 1000 }, now: fakeClock().now });
    await a.append(entry("n1"), ["user:h"]);
    await a.append(entry("n2"), ["user:h"]); // a caches head 2
    await b.append(entry("n3"), ["user:h"]); // head 3 now; b's clock is early, so b trims nothing
    late.advance(5000);
    await a.sweep(); // by a's clock all three are aged; its cached head (2) is stale
    expect(await rowKeys(name, "user:h")).toEqual(["head"]);
    expect(await a.read("user:h", 0, 10)).toEqual({ frames: [], first: 4, head: 3, cursor: 3 });
    expect((await b.append(entry("n4"), ["user:h"])).frames[0]!.offset).toBe(4);
  });

  it("4 replicas in closed loops on one hot stream get offsets 1..N", async () => {
    const name = freshTable();
    const replicas = await Promise.all([1, 2, 3, 4].map(() => open(name)));
    const perWorker = 15;
    await Promise.all(
      replicas.flatMap((store, r) =>
        [0, 1, 2, 3].map(async (w) => {
          // Each worker waits for its append before the next, like a consumer with 4 concurrent calls.
          for (let i = 0; i < perWorker; i++) await store.append(entry(`r${r}w${w}i${i}`), ["broadcast"]);
        }),
      ),
    );
    const frames = await readAll(replicas[0]!, "broadcast", 0, 100);
    expect(frames.map((f) => f.offset)).toEqual(Array.from({ length: 4 * 4 * perWorker }, (_, i) => i + 1));
    expect(new Set(frames.map((f) => f.id)).size).toBe(frames.length);
  });

  it("reports its own write as new when a retried request finds it already committed", async () => {
    const name = freshTable();
    const real = rawClient(name);
    let lose = true;
    // The first transaction commits but its caller sees 409, as when the SDK resends a request whose
    // response was lost.
    const flaky = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === "submitTransaction") {
          return async (actions: TransactionAction[]) => {
            const result = await target.submitTransaction(actions);
            if (!lose) return result;
            lose = false;
            throw Object.assign(new Error("EntityAlreadyExists"), {
              statusCode: 409,
              code: "EntityAlreadyExists",
            });
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const store = await TableStreamStore.open({ client: flaky }, { sweepIntervalMs: 0 });
    opened.push(store);
    const r = await store.append(entry("n1"), ["user:lost"]);
    expect(r).toMatchObject({ duplicate: [false], frames: [{ offset: 1 }] });
    expect((await store.append(entry("n1"), ["user:lost"])).duplicate).toEqual([true]);
    expect((await store.read("user:lost", 0, 10)).head).toBe(1);
  });

  it("deletes trimmed frames and their dedup rows in the append's transaction", async () => {
    const name = freshTable();
    const store = await open(name, { retention: { maxCount: 3 } });
    for (let i = 1; i <= 10; i++) await store.append(entry(`n${i}`), ["user:t"]);
    expect(await rowKeys(name, "user:t")).toEqual([
      "d:n10",
      "d:n8",
      "d:n9",
      "f:0000000000000008",
      "f:0000000000000009",
      "f:0000000000000010",
      "head",
    ]);
    expect(store.stats().trimmed).toBe(7);
  });

  it("sweeps aged frames of a stream that gets no more appends", async () => {
    const name = freshTable();
    const clock = fakeClock();
    const store = await open(name, { retention: { maxAgeMs: 1000 }, now: clock.now });
    for (let i = 1; i <= 60; i++) await store.append(entry(`n${i}`), ["user:idle"]);
    await store.append(entry("fresh"), ["user:busy"]);
    clock.advance(2000);
    await store.append(entry("new"), ["user:busy"]); // trims user:busy on append
    expect((await rowKeys(name, "user:idle")).length).toBe(121);
    await store.sweep();
    expect(await rowKeys(name, "user:idle")).toEqual(["head"]);
    expect(await store.read("user:idle", 0, 10)).toEqual({ frames: [], first: 61, head: 60, cursor: 60 });
    expect(await rowKeys(name, "user:busy")).toEqual(["d:new", "f:0000000000000002", "head"]);
  });

  it("runs the sweep on its timer", async () => {
    const name = freshTable();
    const clock = fakeClock();
    const store = await open(name, { retention: { maxAgeMs: 1000 }, now: clock.now, sweepIntervalMs: 20 });
    await store.append(entry("old"), ["user:timer"]);
    clock.advance(5000);
    for (let i = 0; i < 250 && (await rowKeys(name, "user:timer")).length > 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await rowKeys(name, "user:timer")).toEqual(["head"]);
  });

  it("fails with STORE_UNAVAILABLE when the service is gone", async () => {
    const other = await startAzurite();
    const store = await TableStreamStore.open(
      { connectionString: other.connectionString },
      { sweepIntervalMs: 0, requestTimeoutMs: 2000 },
    );
    opened.push(store);
    await store.append(entry("n1"), ["user:a"]);
    await other.close();
    const err = await store.append(entry("n2"), ["user:a"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamStoreError);
    expect((err as StreamStoreError).code).toBe("STORE_UNAVAILABLE");
    expect((err as StreamStoreError).retryable).toBe(true);
  });
});
