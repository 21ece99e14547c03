/**
 * The backend names `--backend` accepts, apart from the module that loads them (so flag specs
 * need not import TensorFlow).
 *
 * @example
 * ```ts
 * BACKEND_NAMES.includes("cpu"); // true
 * ```
 * @module
 */

/** Backend names accepted by `--backend`. */
export const BACKEND_NAMES = ["auto", "tensorflow-gpu", "tensorflow", "webgpu", "cpu"] as const;

/** One of {@link BACKEND_NAMES}. */
export type BackendName = typeof BACKEND_NAMES[number];
