/**
 * Bench: seconds per DeViSE epoch (hinge rank loss, Adam, batch 256) over n × d synthetic
 * features → D dims, C classes, on the selected tfjs backend, next to the same loop in PyTorch
 * CPU (bench/peers/devise_torch.py) run in the same invocation. Writes
 * data/bench/devise_epoch.json with per-epoch times, medians and the ratio.
 *
 * @example
 * ```sh
 * deno run -A bench/devise_epoch.ts                          # 50000 × 4096 → 300, 100 classes
 * deno run -A bench/devise_epoch.ts --n 5000 --epochs 2 --backend cpu --python python3
 * ```
 * @module
 */
import { type FlagSpec, parseFlags } from "../lib/cli/args.ts";
import { runtimeVersions } from "../lib/cli/run.ts";
import {
  BACKEND_NAMES,
  type BackendName,
  selectBackend,
  tfjsVersions,
} from "../lib/backend/select.ts";
import { writeJsonAtomic } from "../lib/io/artifact.ts";
import { Rng } from "../lib/io/rng.ts";
import { normalizeRows } from "../lib/devise/loss.ts";
import { trainDevise } from "../lib/devise/train.ts";
import { median } from "../lib/io/stats.ts";

const spec = {
  n: { type: "number", default: 50000, help: "training rows" },
  d: { type: "number", default: 4096, help: "feature dimension" },
  dims: { type: "number", default: 300, help: "word vector dimension" },
  classes: { type: "number", default: 100, help: "labels" },
  batchSize: { type: "number", default: 256, help: "minibatch size" },
  epochs: { type: "number", default: 3, help: "timed epochs (median reported)" },
  backend: { type: "string", default: "auto", choices: BACKEND_NAMES, help: "tfjs backend" },
  python: {
    type: "string",
    default: "/usr/bin/python3",
    help: "python with torch for the peer ('' skips)",
  },
  tape: {
    type: "boolean",
    default: false,
    help: "take the gradient from tfjs's autodiff tape (the A/B of the closed form)",
  },
  out: { type: "string", default: "data/bench/devise_epoch.json", help: "result file" },
} as const satisfies FlagSpec;

async function _torchPeer(flags: Record<string, unknown>) {
  if (!flags.python) return { skipped: "no --python" };
  const args = [
    "bench/peers/devise_torch.py",
    ...["n", "d", "dims", "classes", "epochs"].flatMap((k) => [`--${k}`, String(flags[k])]),
    "--batch-size",
    String(flags.batchSize),
  ];
  try {
    const out = await new Deno.Command(flags.python as string, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (!out.success) return { skipped: `peer failed: ${stderr.split("\n").at(-1)}` };
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  } catch (err) {
    return { skipped: `peer not runnable: ${(err as Error).message}` };
  }
}

async function main() {
  const flags = parseFlags(spec, Deno.args, {
    task: "bench devise_epoch",
    summary: "Seconds per DeViSE epoch on synthetic features, tfjs vs PyTorch CPU.",
    examples: ["deno run -A bench/devise_epoch.ts --n 50000 --epochs 3"],
  });
  const { tf, backend, reason } = await selectBackend(flags.backend as BackendName, {
    allowSlow: true,
    log: console.error,
  });
  const rng = new Rng(0);
  console.error(
    `generating ${flags.n}×${flags.d} features (${
      (flags.n * flags.d * 4 / 2 ** 20).toFixed(0)
    } MiB)`,
  );
  const trainFeatures = new Float32Array(flags.n * flags.d);
  for (let i = 0; i < trainFeatures.length; i++) trainFeatures[i] = rng.normal();
  const trainLabels = Int32Array.from({ length: flags.n }, () => rng.int(flags.classes));
  const labelVectors = normalizeRows(
    Float32Array.from({ length: flags.classes * flags.dims }, () => rng.normal()),
    flags.dims,
  );
  const result = await trainDevise(tf, {
    trainFeatures,
    trainLabels,
    labelVectors,
    dims: flags.dims,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    standardize: false, // the peer does not standardise either; inputs are already N(0, 1)
    loss: "hinge",
    lr: 1e-3,
    tape: flags.tape,
    onEpoch: (s) => console.error(`tfjs ${backend} epoch ${s.epoch}: ${s.seconds.toFixed(1)} s`),
  });
  const tfjsMedian = median(result.epochSeconds);
  console.error("running the PyTorch peer ...");
  const peer = await _torchPeer(flags);
  const peerMedian = typeof peer.medianEpochSeconds === "number" ? peer.medianEpochSeconds : null;
  const report = {
    bench: "devise_epoch",
    date: new Date().toISOString(),
    shape: {
      n: flags.n,
      d: flags.d,
      dims: flags.dims,
      classes: flags.classes,
      batchSize: flags.batchSize,
    },
    tfjs: {
      backend,
      reason,
      versions: { ...runtimeVersions(), ...tfjsVersions(tf) },
      epochSeconds: result.epochSeconds,
      medianEpochSeconds: tfjsMedian,
      lastEpochLoss: result.curves.at(-1)?.trainLoss,
    },
    peer,
    tfjsOverPeer: peerMedian ? tfjsMedian / peerMedian : null,
  };
  await writeJsonAtomic(flags.out, report);
  console.error(
    `tfjs ${backend}: ${tfjsMedian.toFixed(2)} s/epoch; pytorch: ${
      peerMedian?.toFixed(2) ?? "n/a"
    } s/epoch` +
      (peerMedian ? ` (ratio ${(tfjsMedian / peerMedian).toFixed(2)}×)` : ""),
  );
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
