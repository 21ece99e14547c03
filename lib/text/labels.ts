/**
 * Class-name → word-vector mapping for DeViSE targets and zero-shot scoring. CIFAR names such as
 * `aquarium_fish` or `maple_tree` are looked up as they are, as a `_` phrase, in case variants,
 * and finally as the mean of their parts; every rule used is recorded so runs can report it.
 *
 * @example
 * ```ts
 * const { data, rules, missing } = labelVectors(vectors, ["apple", "aquarium_fish"]);
 * rules[1]; // { label: "aquarium_fish", rule: "mean-of-parts", tokens: ["aquarium", "fish"] }
 * labelEquivalents("maple_tree"); // ["maple_tree", "maple_trees"]
 * ```
 * @module
 */
import { normalizeRows, type WordVectors } from "./vectors.ts";

/** How a label found its vector. */
export type LabelRule = "exact" | "phrase" | "case" | "mean-of-parts" | "missing";

/** The mapping used for one label: rule and the vocabulary tokens it used. */
export interface LabelMapping {
  /** The class name as given. */
  label: string;
  /** Which rule matched first. */
  rule: LabelRule;
  /** Vocabulary tokens used (one, several for `mean-of-parts`, none when missing). */
  tokens: string[];
}

/** Label vectors, one unit-norm row per label (zero rows for missing labels). */
export interface LabelVectors {
  /** Row-major `labels.length * dim`, each row unit L2 norm (missing rows all zero). */
  data: Float32Array;
  /** One entry per label, in order. */
  rules: LabelMapping[];
  /** Labels with no vector at all. */
  missing: string[];
}

/** The parts of a label: split on `_`, `-` and whitespace. */
function _parts(label: string): string[] {
  return label.split(/[_\s-]+/).filter((p) => p !== "");
}

function _capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
}

/** lowercase, Capitalised, UPPER, and (for phrases) Each_Part_Capitalised. */
function _caseVariants(s: string): string[] {
  const parts = s.split("_");
  const variants = [
    s.toLowerCase(),
    _capitalise(s),
    s.toUpperCase(),
    parts.map(_capitalise).join("_"),
  ];
  return [...new Set(variants)].filter((x) => x !== s);
}

/**
 * Maps each label to a unit-norm vector, trying in order:
 * 1. `exact`: the label itself is a token;
 * 2. `phrase`: its parts (split on `_`, `-`, spaces) joined by `_`, e.g. `maple tree` → `maple_tree`;
 * 3. `case`: lowercase, Capitalised, UPPER or Each_Part_Capitalised of the label or phrase;
 * 4. `mean-of-parts`: the mean of the parts found (each as is or in a case variant), normalised;
 * 5. `missing`: a zero row, and the label is listed in `missing`.
 *
 * @example
 * ```ts
 * const v = makeWordVectors(["fish", "aquarium"], 2, new Float32Array([1, 0, 0, 1]));
 * const out = labelVectors(v, ["aquarium_fish"]);
 * out.data; // [0.7071, 0.7071]
 * ```
 */
export function labelVectors(v: WordVectors, labels: string[]): LabelVectors {
  const dim = v.dim;
  const data = new Float32Array(labels.length * dim);
  const rules: LabelMapping[] = [];
  const missing: string[] = [];
  const copyRow = (i: number, token: string) => {
    const row = v.index.get(token)!;
    data.set(v.data.subarray(row * dim, (row + 1) * dim), i * dim);
  };
  labels.forEach((label, i) => {
    const parts = _parts(label);
    const phrase = parts.join("_");
    const single = (rule: LabelRule, token: string) => {
      copyRow(i, token);
      rules.push({ label, rule, tokens: [token] });
    };
    if (v.index.has(label)) return single("exact", label);
    if (phrase !== label && phrase !== "" && v.index.has(phrase)) return single("phrase", phrase);
    for (const base of new Set([label, phrase])) {
      for (const variant of _caseVariants(base)) {
        if (v.index.has(variant)) return single("case", variant);
      }
    }
    const found: string[] = [];
    if (parts.length > 1) {
      for (const part of parts) {
        const hit = [part, ..._caseVariants(part)].find((t) => v.index.has(t));
        if (hit !== undefined) found.push(hit);
      }
    }
    if (found.length === 0) {
      rules.push({ label, rule: "missing", tokens: [] });
      missing.push(label);
      return;
    }
    const out = data.subarray(i * dim, (i + 1) * dim);
    for (const token of found) {
      const row = v.index.get(token)!;
      for (let j = 0; j < dim; j++) out[j] += v.data[row * dim + j] / found.length;
    }
    rules.push({ label, rule: "mean-of-parts", tokens: found });
  });
  normalizeRows(data, dim);
  return { data, rules, missing };
}

/** English plural of a word: `+es` after s/x/z/ch/sh, consonant+`y` → `ies`, else `+s`. */
function _plural(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return word + "es";
  if (/[^aeiou]y$/.test(word)) return word.slice(0, -1) + "ies";
  return word + "s";
}

/**
 * English singular candidates of a plural-looking word (none when it does not look plural):
 * `ies` → `y`; `ses`/`xes`/`zes`/`ches`/`shes` → without `es` and without `s` (boxes, houses);
 * else a final `s` not after s/u/i is dropped (so bus, glass, iris stay singular).
 */
function _singulars(word: string): string[] {
  if (/[^aeiou]ies$/.test(word)) return [word.slice(0, -3) + "y"];
  if (/(s|x|z|ch|sh)es$/.test(word)) return [word.slice(0, -2), word.slice(0, -1)];
  if (/[^siu]s$/.test(word) && word.length > 2) return [word.slice(0, -1)];
  return [];
}

/**
 * The tokens that count as a hit for `label` in zero-shot evaluation. Strict on purpose:
 * - the label itself;
 * - its phrase form: parts (split on `_`, `-`, spaces) joined by `_`;
 * - inflecting the last part only: when the label looks plural, its singular(s) (`ies` → `y`;
 *   `ses`/`xes`/`zes`/`ches`/`shes` → drop `es` and drop `s`; else a final `s` not after s/u/i
 *   is dropped), otherwise its simple plural (`+es` after s/x/z/ch/sh, consonant+`y` → `ies`,
 *   else `+s`). Irregular forms (mouse/mice, man/men) are not generated.
 * No case variants, no head words (`pickup_truck` does not accept `truck`), no synonyms.
 *
 * @example
 * ```ts
 * labelEquivalents("butterfly"); // ["butterfly", "butterflies"]
 * labelEquivalents("pickup truck"); // ["pickup truck", "pickup_truck", "pickup trucks", "pickup_trucks"]
 * ```
 */
export function labelEquivalents(label: string): string[] {
  const parts = _parts(label);
  const bases = [label, parts.join("_")].filter((b) => b !== "");
  const out: string[] = [...bases];
  for (const base of bases) {
    const m = /^(.*?)([^_\s-]+)$/.exec(base);
    if (!m) continue;
    const [, head, last] = m;
    const singulars = _singulars(last);
    if (singulars.length === 0) out.push(head + _plural(last));
    for (const singular of singulars) out.push(head + singular);
  }
  return [...new Set(out)];
}
