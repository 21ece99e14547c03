/**
 * Where setup keeps large downloads (the TensorFlow wheel and its unpacked libtensorflow, about
 * 1.1 GB): shared by every clone on the machine, so CI and new checkouts do not fetch it again.
 *
 * @example
 * ```ts
 * defaultCacheDir(); // "$DEVISE_CACHE_DIR" or "$XDG_CACHE_HOME/devise" or "~/.cache/devise"
 * ```
 * @module
 */
import { join } from "node:path";

/** `DEVISE_CACHE_DIR`, else `$XDG_CACHE_HOME/devise`, else `~/.cache/devise`. */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("DEVISE_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "devise");
  const home = Deno.env.get("HOME");
  return home ? join(home, ".cache", "devise") : join("data", "cache");
}
