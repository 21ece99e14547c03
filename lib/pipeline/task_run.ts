/**
 * The start every task that computes shares: pick the tfjs backend (its lines kept until the run
 * exists), open the run folder with the resolved settings and the backend recorded once in
 * `config.json`, then log what the backend choice said.
 *
 * @example
 * ```ts
 * const { run, tf, backend } = await startRunOnBackend("predict", request, { labels }, {
 *   allowSlow: true,
 * });
 * ```
 * @module
 */
import { type BackendName, selectBackend, type TF, tfjsVersions } from "../backend/select.ts";
import { type Run, startRun } from "../cli/run.ts";

/**
 * Selects the backend, then starts the run (see the module doc).
 *
 * @example
 * ```ts
 * const { run, tf } = await startRunOnBackend("zeroshot", { backend: "auto", out: "", quiet: false },
 *   cfg, { allowSlow: true });
 * ```
 */
export async function startRunOnBackend(
  task: string,
  request: { backend: BackendName; out: string; quiet: boolean },
  /** The settings, or a function of the backend chosen (e.g. a preset that follows it). */
  config: Record<string, unknown> | ((backend: string) => Record<string, unknown>),
  options: { allowSlow: boolean; keepConfig?: boolean },
): Promise<{ run: Run; tf: TF; backend: string; reason: string }> {
  const lines: string[] = [];
  const { tf, backend, reason } = await selectBackend(request.backend, {
    allowSlow: options.allowSlow,
    log: (line) => lines.push(line),
  });
  const run = await startRun(task, request.out, {
    ...(typeof config === "function" ? config(backend) : config),
    backend,
    backendReason: reason,
    tfjs: tfjsVersions(tf),
  }, { quiet: request.quiet, keepConfig: options.keepConfig });
  for (const line of lines) run.log(line);
  return { run, tf, backend, reason };
}
