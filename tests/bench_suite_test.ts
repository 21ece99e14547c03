import assert from "node:assert/strict";
import { join } from "node:path";
import { runBenchSuite } from "../bench/run.ts";

Deno.test("bench --collect-only on a machine without data/bench keeps the committed rows", async () => {
  const dir = await Deno.makeTempDir();
  const results = join(dir, "bench");
  const benchDir = join(dir, "data-bench"); // empty: a new machine
  await Deno.mkdir(results);
  await Deno.mkdir(benchDir);
  const row = {
    bench: "data",
    measurement: "CIFAR-100 train decode (50000 img)",
    unit: "s",
    higherIsBetter: false,
    ours: 1.5,
    peer: "numpy",
    peerValue: 3,
    ratio: 2,
    note: "",
  };
  const date = "2026-12-01T19:05:48.316Z";
  await Deno.writeTextFile(
    join(results, "results.json"),
    JSON.stringify({
      benches: { data: { status: "collected", file: "x", date, maxRssBytes: 2 ** 30 } },
      rows: [row],
    }),
  );
  await runBenchSuite({
    only: [],
    quick: false,
    runs: 1,
    dataDir: dir,
    collectOnly: true,
    drills: false,
    benchDir,
    results,
    json: false,
    setupPeers: false,
  });
  const out = JSON.parse(await Deno.readTextFile(join(results, "results.json")));
  assert.deepEqual(out.rows.filter((r: { bench: string }) => r.bench === "data"), [row]);
  assert.equal(out.benches.data.status, "collected");
  assert.equal(out.benches.data.date, date);
  assert.match(out.benches.data.reason, /rows kept from the previous/);
  // A bench the previous table did not have still says it was not run.
  assert.equal(out.benches.train.status, "not run");
  const md = await Deno.readTextFile(join(results, "results.md"));
  assert.match(md, /\| data \(run 2026-12-01 19:05\) +\| CIFAR-100 train decode/);
  assert.match(md, /run ≤ 1\.00 GiB/);
  await Deno.remove(dir, { recursive: true });
});
