/**
 * What happens on Ctrl-C (SIGINT) or SIGTERM: every registered hook runs (synchronously, newest
 * first) and the process exits 130 / 143. Atomic writers register their temp files here so a kill
 * leaves nothing half-written, and an open run marks itself interrupted in its log.
 *
 * @example
 * ```ts
 * const hook = () => Deno.removeSync(tmp);
 * addInterruptHook(hook);
 * try { await write(tmp); } finally { removeInterruptHook(hook); }
 * ```
 * @module
 */

const _hooks: (() => void)[] = [];
let _installed = false;

function _install(): void {
  if (_installed) return;
  _installed = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    try {
      Deno.addSignalListener(signal, () => {
        for (const hook of _hooks.toReversed()) {
          try {
            hook();
          } catch { /* best effort: the process is going down */ }
        }
        Deno.exit(code);
      });
    } catch { /* no signals here (a Worker, or Windows for SIGTERM) */ }
  }
}

/**
 * Runs `hook` if the process is interrupted before {@link removeInterruptHook}.
 *
 * @example
 * ```ts
 * addInterruptHook(() => console.error("interrupted"));
 * ```
 */
export function addInterruptHook(hook: () => void): void {
  _install();
  _hooks.push(hook);
}

/**
 * Forgets a hook added with {@link addInterruptHook}.
 *
 * @example
 * ```ts
 * removeInterruptHook(hook);
 * ```
 */
export function removeInterruptHook(hook: () => void): void {
  const i = _hooks.lastIndexOf(hook);
  if (i >= 0) _hooks.splice(i, 1);
}
