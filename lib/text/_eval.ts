import { trainSkipGram } from "./skipgram.ts";
import { evaluateSimilarity, nearest, parseSimilarity } from "./similarity.ts";
const text = await Deno.readTextFile("/tmp/w2vt/corpus.txt");
const sents = text.split("\n").filter((l) => l).map((l) => l.split(" "));
const opts = JSON.parse(Deno.args[0] ?? "{}");
const r = await trainSkipGram(sents, { threads: 2, quiet: true, ...opts });
const dir = "/work/shared/data/word-sim";
const out: Record<string, string> = {};
for (const f of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
  const res = evaluateSimilarity(
    r.vectors,
    parseSimilarity(Deno.readTextFileSync(`${dir}/${f}`), f),
  );
  out[f.replace(/\.txt$/, "")] = res.rho.toFixed(3) + "/" + res.coverage.toFixed(2);
}
console.log(
  JSON.stringify(opts),
  r.stats.trainSeconds.toFixed(1) + "s",
  Math.round(r.stats.wordsPerSecond),
  JSON.stringify(out),
);
if (Deno.args[1]) {
  for (const w of ["cat", "truck", "ship", "airplane", "frog"]) {
    console.log(
      w,
      nearest(r.vectors, w, 5).map((n) => n.word).join(" "),
    );
  }
}
