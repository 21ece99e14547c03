import { buildHnswlib, loadHnswlib } from "../lib/backend/hnswlib.ts";
console.log(await buildHnswlib({ log: console.error }));
const h = await loadHnswlib();
console.log(typeof h.HierarchicalNSW);
