import { readVectors } from "./word2vec_io.ts";
import { evaluateSimilarity, nearest, parseSimilarity } from "./similarity.ts";
const v = await readVectors(Deno.args[0]);
const dir = "/work/shared/data/word-sim";
const out: Record<string, string> = {};
for (const f of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
  const res = evaluateSimilarity(v, parseSimilarity(Deno.readTextFileSync(`${dir}/${f}`), f));
  out[f.replace(/\.txt$/, "")] = res.rho.toFixed(3) + "/" + res.coverage.toFixed(2);
}
console.log(JSON.stringify(out));
for (const w of ["cat", "truck", "ship", "airplane", "frog"]) {
  console.log(
    w,
    nearest(v, w, 5).map((n) => n.word).join(" "),
  );
}
