import assert from "node:assert/strict";

/**
 * The project's own module graph (from `deno info --json` over every entry point): local
 * modules and the local modules each one imports (static, dynamic and type-only imports alike).
 */
async function localGraph(): Promise<Map<string, string[]>> {
  const root = new URL("..", import.meta.url).href;
  const entries = ["mod.ts", ...[...Deno.readDirSync("tasks")].map((e) => `tasks/${e.name}`)];
  const graph = new Map<string, string[]>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.ok(out.success, `deno info ${entry}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const m of info.modules) {
      if (!m.specifier.startsWith(root) || m.specifier.includes("/node_modules/")) continue;
      const name = m.specifier.slice(root.length);
      const deps = (m.dependencies ?? []).flatMap((d: Record<string, { specifier: string }>) =>
        [d.code?.specifier, d.type?.specifier].filter((s): s is string =>
          typeof s === "string" && s.startsWith(root)
        )
      ).map((s: string) => s.slice(root.length));
      graph.set(name, [...new Set([...(graph.get(name) ?? []), ...deps])]);
    }
  }
  return graph;
}

/** Every cycle's members (strongly connected components of more than one module, or a self-loop). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("structure: no import cycles among the project's modules", async () => {
  const graph = await localGraph();
  assert.ok(graph.size > 50, `read ${graph.size} modules`);
  assert.deepEqual(cycles(graph), []);
  // The checker itself finds a cycle when there is one.
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]])), [["a", "b"]]);
});

Deno.test("structure: the library never imports a task", async () => {
  const graph = await localGraph();
  const offenders = [...graph].filter(([m, deps]) =>
    m.startsWith("lib/") && deps.some((d) => d.startsWith("tasks/"))
  );
  assert.deepEqual(offenders, []);
  for (const [m, deps] of graph) {
    if (m.startsWith("tasks/")) {
      // A task is a thin entry point: other tasks are never its building blocks.
      assert.deepEqual(deps.filter((d) => d.startsWith("tasks/")), [], m);
    }
  }
});
