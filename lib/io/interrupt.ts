/**
 * What happens on Ctrl-C (SIGINT) or SIGTERM while something must be cleaned up: every registered
 * hook runs (synchronously, newest first) and the process exits 130 / 143. Atomic writers register
 * their temp files here so a kill leaves nothing half-written, and an open run registers a
 * passive hook that marks it interrupted in its log.
 *
 * Signals are caught only while an active hook (a temp file being written) is registered: a
 * listener defers the signal to the next turn of the event loop, and a long synchronous stretch
 * (a training epoch) must stay killable at once. With no active hook, the default action runs.
 *
 * @example
 * ```ts
 * const hook = () => Deno.removeSync(tmp);
 * addInterruptHook(hook);
 * try { await write(tmp); } finally { removeInterruptHook(hook); }
 * ```
 * @module
 */

const _hooks: { fn: () => void; passive: boolean }[] = [];
const _SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;
const _listeners = new Map<Deno.Signal, () => void>();

function _listening(): void {
  const active = _hooks.some((h) => !h.passive);
  if (active && _listeners.size === 0) {
    for (const [signal, code] of _SIGNALS) {
      const listener = () => {
        for (const hook of _hooks.toReversed()) {
          try {
            hook.fn();
          } catch { /* best effort: the process is going down */ }
        }
        Deno.exit(code);
      };
      try {
        Deno.addSignalListener(signal, listener);
        _listeners.set(signal, listener);
      } catch { /* no signals here (a Worker, or Windows for SIGTERM) */ }
    }
  } else if (!active && _listeners.size > 0) {
    for (const [signal, listener] of _listeners) Deno.removeSignalListener(signal, listener);
    _listeners.clear();
  }
}

/**
 * Runs `hook` if the process is interrupted before {@link removeInterruptHook}. A passive hook
 * runs only when a signal is caught for an active one; it never makes signals wait.
 *
 * @example
 * ```ts
 * addInterruptHook(() => console.error("interrupted"), { passive: true });
 * ```
 */
export function addInterruptHook(hook: () => void, options: { passive?: boolean } = {}): void {
  _hooks.push({ fn: hook, passive: options.passive ?? false });
  _listening();
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
  const i = _hooks.findLastIndex((h) => h.fn === hook);
  if (i >= 0) _hooks.splice(i, 1);
  _listening();
}
