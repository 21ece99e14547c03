/**
 * Deno Worker that builds one HNSW shard and writes it to a file (native index objects cannot
 * cross isolates, so the main thread reads the file back). Started by `buildIndex` when
 * `shards > 1`.
 *
 * Message in: {@link ShardJob}. Messages out: `{type: "progress", done}` every 2,000 points,
 * then `{type: "done", seconds}` or `{type: "error", message}`.
 *
 * @example
 * ```ts
 * const worker = new Worker(new URL("./shard_worker.ts", import.meta.url).href, { type: "module" });
 * worker.postMessage(job, [job.data.buffer]);
 * ```
 * @module
 */
/// <reference lib="deno.worker" />
import { buildShard, type ShardJob } from "./shard.ts";

self.onmessage = async (event: MessageEvent<ShardJob>) => {
  const job = event.data;
  try {
    const startMs = performance.now();
    const hnsw = await buildShard(job.data, job.dim, job.offset, job, (done) => {
      self.postMessage({ type: "progress", done });
    });
    hnsw.writeIndexSync(job.outPath);
    self.postMessage({ type: "done", seconds: (performance.now() - startMs) / 1000 });
  } catch (err) {
    self.postMessage({ type: "error", message: (err as Error).message });
  }
};
