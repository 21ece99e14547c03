/**
 * A Hogwild skip-gram worker: receives the shared {@link KernelState} (SharedArrayBuffer-backed
 * weights, corpus, tables and progress counter) plus its corpus slice and seed, trains, and
 * posts `{ done: true }` (or `{ error }`).
 *
 * @example
 * ```ts
 * const w = new Worker(new URL("./skipgram_worker.ts", import.meta.url).href, { type: "module" });
 * w.postMessage({ state, start: 0, end: state.corpus.length, seed: workerSeed(1, 0), workerId: 0 });
 * ```
 * @module
 */
import { type KernelState, trainRange } from "./skipgram.ts";

/** The message a worker expects. */
export interface WorkerJob {
  state: KernelState;
  start: number;
  end: number;
  seed: number;
  workerId: number;
}

// Typed view of the worker global (the default lib types `self` as a window).
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerJob>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (e) => {
  try {
    const { state, start, end, seed, workerId } = e.data;
    trainRange(state, start, end, seed, workerId);
    scope.postMessage({ done: true });
  } catch (err) {
    scope.postMessage({ error: (err as Error).message });
  }
};
