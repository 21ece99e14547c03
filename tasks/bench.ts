/**
 * `deno task bench`: runs the benchmark scripts under bench/ next to their peers and writes
 * `bench/results.{json,md}` (see bench/run.ts and bench/suite.ts).
 *
 * @example
 * ```sh
 * deno task bench --quick
 * deno task bench --only data,w2v-parse --runs 5
 * deno task bench --only hnsw-1m           # the 1M × 300 index target with its peer (~35 min, not by default)
 * deno task bench --collect-only          # rebuild results.md from existing data/bench/*.json
 * deno task bench --drills
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { runBenchSuite } from "../bench/run.ts";
import { BENCHES } from "../bench/suite.ts";

/** The flags of `deno task bench`. */
export const spec = {
  only: {
    type: "list",
    default: [],
    choices: Object.keys(BENCHES),
    help: `benchmarks to run (${Object.keys(BENCHES).join(",")}; ` +
      `${Object.keys(BENCHES).filter((n) => BENCHES[n].optIn).join(",")} only when named)`,
  },
  quick: { type: "boolean", default: false, help: "reduced sizes (< 5 min); separate results" },
  runs: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 1000,
    help: "repetitions per script (0 = each script's default)",
  },
  dataDir: {
    type: "string",
    default: "",
    help: "CIFAR folder (else $DEVISE_DATA_DIR, data, ../shared/data)",
  },
  collectOnly: { type: "boolean", default: false, help: "run nothing; table from existing JSON" },
  drills: { type: "boolean", default: false, help: "run the fault drills and print the counts" },
  benchDir: { type: "string", default: "data/bench", help: "where the scripts write JSON" },
  results: { type: "string", default: "bench", help: "folder for results.json / results.md" },
  json: { type: "boolean", default: false, help: "print results.json on stdout" },
  setupPeers: {
    type: "boolean",
    default: false,
    help: "install missing peers first (bash bench/setup: apt packages, pip, data/venv)",
  },
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench",
    summary: "Run the benchmark suite against peers and write bench/results.{json,md}.",
    examples: [
      "deno task bench --quick",
      "deno task bench --setup-peers",
      "deno task bench --only data,w2v-parse --runs 5",
      "deno task bench --collect-only",
      "deno task bench --drills",
    ],
  });
  await runBenchSuite(flags);
}

if (import.meta.main) await runTask(main);
