import { trainSkipGram } from "./skipgram.ts";
const text = await Deno.readTextFile("/tmp/w2vt/corpus.txt");
const sents = text.split("\n").filter((l) => l).map((l) => l.split(" "));
const threads = Number(Deno.args[0] ?? 1);
const epochs = Number(Deno.args[1] ?? 1);
const r = await trainSkipGram(sents, { threads, epochs, quiet: true });
const raw = sents.reduce((s, x) => s + x.length, 0);
console.log(r.stats, "raw w/s", raw * epochs / r.stats.trainSeconds);
