/**
 * `deno task runs`: every run under `data/runs/` in one table (stderr), as JSON (`--json`), and as
 * a sortable `data/runs/index.html` linking to each report. The flow is
 * `lib/pipeline/runs_table.ts`.
 *
 * ```sh
 * deno task runs
 * deno task runs --task train --sort deviseHit1
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runsDir, runTask } from "../lib/cli/run.ts";
import { runsTable, SORT_KEYS } from "../lib/pipeline/runs_table.ts";

/** The flags of `deno task runs`. */
export const spec = {
  task: {
    type: "string",
    choices: [
      "train",
      "zeroshot",
      "pretrain",
      "devise",
      "extract",
      "word2vec",
      "index",
      "predict",
      "search",
      "download",
    ],
    help: "only runs of this task",
  },
  sort: { type: "string", default: "startedAt", choices: SORT_KEYS, help: "sort by (descending)" },
  dir: { type: "string", default: runsDir(), path: "dir", help: "the runs folder" },
  json: { type: "boolean", default: false, help: "print the rows as JSON on stdout" },
  quiet: { type: "boolean", default: false, help: "no table on stderr" },
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "runs",
    summary: "One table of all runs: when, task, preset, key metrics, wall time, commit, status.",
    examples: ["deno task runs", "deno task runs --task train --sort deviseHit1 --json"],
  });
  await runsTable(flags);
}

if (import.meta.main) await runTask(main);
