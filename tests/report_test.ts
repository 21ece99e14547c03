import assert from "node:assert/strict";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import {
  barChartSvg,
  escapeXml,
  heatmapSvg,
  integerTicks,
  lineChartSvg,
  niceTicks,
} from "../lib/report/svg.ts";
import { crc32 } from "node:zlib";
import { encodePng, imageGridMarkdown, pngDataUri } from "../lib/report/image_grid.ts";
import {
  formatCell,
  markdownTable,
  type ReportData,
  resultsTable,
  writeReport,
} from "../lib/report/report.ts";

/**
 * A small well-formedness check: every tag is closed in order, attributes are quoted, and no
 * raw `<` or `&` (other than entities) appears in text.
 */
function assertWellFormed(xml: string, what: string): void {
  const stack: string[] = [];
  const tag =
    /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<!doctype[^>]*>/gi;
  let last = 0;
  for (const m of xml.matchAll(tag)) {
    const text = xml.slice(last, m.index);
    assert.ok(
      !/[<>]/.test(text),
      `${what}: stray '<' or '>' in text near offset ${last}: ${text.slice(0, 60)}`,
    );
    assert.ok(
      !/&(?!(amp|lt|gt|quot|#39);)/.test(text),
      `${what}: unescaped '&' near offset ${last}`,
    );
    last = m.index! + m[0].length;
    if (!m[2]) continue; // comment / doctype
    const voids = new Set(["meta", "img", "br", "hr", "link", "input"]);
    if (m[1]) {
      assert.equal(
        stack.pop(),
        m[2],
        `${what}: </${m[2]}> at offset ${m.index} closes the wrong tag`,
      );
    } else if (!m[4] && !voids.has(m[2].toLowerCase())) {
      stack.push(m[2]);
    }
  }
  assert.ok(!/[<>]/.test(xml.slice(last)), `${what}: trailing markup not parsed`);
  assert.deepEqual(stack, [], `${what}: unclosed tags`);
}

Deno.test("svg charts are well-formed, escape text and have ticks and legends", () => {
  const line = lineChartSvg({
    title: "loss <train> & test",
    xLabel: "epoch",
    yLabel: "loss",
    series: [
      { name: "train", points: [[1, 0.9], [2, 0.5], [3, NaN], [4, 0.3]] },
      { name: 'te"st', points: [[1, 1], [2, 0.8]] },
    ],
  });
  assertWellFormed(line, "line");
  assert.ok(line.startsWith("<svg") && line.endsWith("</svg>"));
  assert.ok(line.includes("loss &lt;train&gt; &amp; test"));
  assert.ok(line.includes("te&quot;st"));
  assert.ok(!line.includes("NaN"), "non-finite points are skipped");
  assert.equal((line.match(/<path /g) ?? []).length, 2);

  const heat = heatmapSvg({
    title: "cm",
    rowLabels: ["a", "b"],
    colLabels: ["a", "b"],
    values: [[3, 1], [0, 4]],
  });
  assertWellFormed(heat, "heatmap");
  assert.equal((heat.match(/<rect [^>]*fill="rgb/g) ?? []).length, 4);
  assert.ok(heat.includes(">3</text>") && heat.includes(">4</text>"), "cell values are printed");
  const big = heatmapSvg({
    title: "big",
    rowLabels: Array.from({ length: 30 }, (_, i) => `c${i}`),
    colLabels: Array.from({ length: 30 }, (_, i) => `c${i}`),
    values: Array.from({ length: 30 }, () => new Array(30).fill(1)),
  });
  assert.ok(!big.includes(">1</text>"), "no cell text on large matrices");

  const bars = barChartSvg({
    title: "per class",
    labels: ["cat", "dog", "ship"],
    series: [{ name: "DeViSE", values: [0.5, 0.7, 0.2] }, {
      name: "ConSE",
      values: [0.4, 0.9, NaN],
    }],
  });
  assertWellFormed(bars, "bars");
  assert.equal((bars.match(/<rect [^>]*><title>/g) ?? []).length, 5);
  assert.ok(bars.includes(">DeViSE</text>") && bars.includes(">ConSE</text>"), "legend");

  assert.deepEqual(niceTicks(0, 0.93, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.equal(escapeXml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
});

Deno.test("PNG encoder: signature, IHDR, CRCs and pixels round-trip", () => {
  const w = 5, h = 3;
  const px = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const png = encodePng(px, w, h);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer);
  assert.equal(view.getUint32(8), 13);
  assert.equal(new TextDecoder().decode(png.subarray(12, 16)), "IHDR");
  assert.equal(view.getUint32(16), w);
  assert.equal(view.getUint32(20), h);
  assert.deepEqual([...png.subarray(24, 29)], [8, 2, 0, 0, 0]);
  // Walk chunks, check CRCs, collect IDAT and decode it.
  let off = 8;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (off < png.length) {
    const len = view.getUint32(off);
    const type = new TextDecoder().decode(png.subarray(off + 4, off + 8));
    types.push(type);
    assert.equal(
      view.getUint32(off + 8 + len),
      crc32(png.subarray(off + 4, off + 8 + len)),
      `${type} CRC`,
    );
    if (type === "IDAT") idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  assert.deepEqual(types, ["IHDR", "IDAT", "IEND"]);
  const raw = new Uint8Array(inflateSync(idat[0]));
  assert.equal(raw.length, h * (w * 3 + 1));
  for (let y = 0; y < h; y++) {
    assert.equal(raw[y * (w * 3 + 1)], 0, "filter None");
    assert.deepEqual(
      raw.subarray(y * (w * 3 + 1) + 1, (y + 1) * (w * 3 + 1)),
      px.subarray(y * w * 3, (y + 1) * w * 3),
    );
  }
  assert.throws(() => encodePng(px, 4, 4), /expected 4×4×3/);
  assert.ok(
    pngDataUri(new Uint8Array(32 * 32 * 3)).startsWith("data:image/png;base64,iVBORw0KGgo"),
  );
});

Deno.test("tables: formatting and markdown escaping", () => {
  assert.equal(formatCell(0.4567), "45.7%");
  assert.equal(formatCell(NaN), "–");
  assert.equal(formatCell(12.3456), "12.35");
  assert.equal(formatCell(3), "3");
  assert.equal(formatCell(1), "100.0%");
  assert.equal(formatCell("12"), "12");
  assert.equal(
    markdownTable({ columns: ["a|b", "v"], rows: [["x", 0.5]] }),
    "| a\\|b | v |\n|---|---|\n| x | 50.0% |",
  );
  assert.ok(
    imageGridMarkdown([{
      image: new Uint8Array(3072),
      trueLabel: "cat",
      predictions: { DeViSE: ["dog", "cat"] },
    }])
      .includes("| 1 | cat | dog, **cat** |"),
  );
});

Deno.test("resultsTable: columns follow the data (hit@20 kept, no empty hierarchy columns)", () => {
  const vocab = resultsTable([{ model: "v", hit: { "20": 0.3, "1": 0.1, "5": 0.2 } }]);
  assert.deepEqual(vocab.columns, ["model", "hit@1", "hit@5", "hit@20"]);
  assert.deepEqual(vocab.rows, [["v", 0.1, 0.2, 0.3]]);
  const cifar = resultsTable([
    {
      model: "a",
      hit: { "1": 0.5 },
      superclassErrorRate: 0.3,
      hierarchicalPrecision: { "1": 1, "2": 0.6 },
    },
    { model: "b", hit: { "1": 0.4, "2": 0.6 } },
  ]);
  assert.deepEqual(cifar.columns, [
    "model",
    "hit@1",
    "hit@2",
    "superclass-consistent errors",
    "hP@2",
  ]);
  assert.deepEqual(cifar.rows[1], ["b", 0.4, 0.6, null, null]);
});

Deno.test("writeReport: results first, configuration last and flattened; md, self-contained html and svgs, not metrics.json", async () => {
  const dir = await Deno.makeTempDir();
  const image = Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => i % 251);
  const data: ReportData = {
    title: "DeViSE <tiny> & test",
    config: {
      command: "deno task train --preset quick",
      git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: true },
      settings: { visual: { epochs: 2 }, layers: ["gap", "act"] },
      vectors: "data/w2v.f32",
    },
    sections: [
      {
        heading: "Results",
        blocks: [
          {
            kind: "table",
            table: resultsTable([
              { model: "softmax", hit: { "1": 0.5, "5": 0.8 } },
              {
                model: "DeViSE",
                hit: { "1": 0.45, "2": 0.6, "5": 0.78, "10": 0.9 },
                superclassErrorRate: 0.31,
                hierarchicalPrecision: { "2": 0.5, "5": 0.4, "10": 0.3 },
              },
            ]),
          },
          { kind: "text", text: "end-to-end fine-tuning row" },
        ],
      },
      {
        heading: "Ablation",
        blocks: [{
          kind: "table",
          table: {
            title: "Loss",
            columns: ["loss", "hit@1"],
            rows: [["hinge", 0.45], ["cosine", 0.41]],
          },
        }],
      },
      {
        heading: "Plots",
        blocks: [
          {
            kind: "svgs",
            charts: [{
              name: "loss",
              svg: lineChartSvg({
                title: "loss",
                xLabel: "epoch",
                yLabel: "loss",
                integerX: true,
                series: [{ name: "train", points: [[1, 1], [2, 0.5]] }],
              }),
            }, {
              name: "per-class",
              svg: barChartSvg({
                title: "10-way",
                labels: ["cat", "dog"],
                series: [{ name: "DeViSE", values: [0.5, 0.25] }, {
                  name: "ConSE",
                  values: [0.4, NaN],
                }],
              }),
            }],
          },
          {
            kind: "svg",
            name: "confusion",
            svg: heatmapSvg({
              title: "c",
              rowLabels: ["a", "b"],
              colLabels: ["a", "b"],
              values: [[1, 1], [3, 1]],
            }),
          },
        ],
      },
      {
        heading: "Images",
        blocks: [
          {
            kind: "grid",
            items: [{
              image,
              trueLabel: "cat",
              predictions: { DeViSE: ["cat", "dog"], softmax: ["dog", "cat"] },
            }],
          },
          {
            kind: "imageTable",
            title: "Top words",
            columns: ["true", "DeViSE", "ConSE"],
            rows: [{ image, cells: ["cat", "cat, kitten", "dog, puppy"] }],
          },
          { kind: "list", items: ["unseen classes: cat, dog"] },
        ],
      },
    ],
  };
  // A run's finish writes metrics.json; the report must not overwrite (or pre-empt) it.
  await Deno.writeTextFile(join(dir, "metrics.json"), '{"owner":"run.finish"}');
  const paths = await writeReport(dir, data);
  assert.equal(await Deno.readTextFile(join(dir, "metrics.json")), '{"owner":"run.finish"}');
  const md = await Deno.readTextFile(paths.markdown);
  const html = await Deno.readTextFile(paths.html);
  for (
    const want of [
      "hit@10",
      "90.0%",
      "31.0%",
      "Ablation",
      "cosine",
      "kitten",
      "puppy",
      "fine-tuning",
      "settings.visual.epochs",
      "settings.layers",
      "gap,act",
      "commit 0123456789 (uncommitted changes)",
      "deno task train --preset quick",
    ]
  ) {
    assert.ok(md.includes(want), `report.md lacks ${want}`);
    assert.ok(html.includes(want), `report.html lacks ${want}`);
  }
  // Results lead, the configuration comes last, and no JSON blob is shown as a value.
  assert.ok(md.indexOf("## Results") < md.indexOf("## Plots"));
  assert.ok(md.indexOf("## Plots") < md.indexOf("## Configuration"));
  assert.ok(md.lastIndexOf("## ") === md.indexOf("## Configuration"));
  assert.ok(!md.includes('{"visual"'), "nested config must be flattened");
  assert.ok(md.includes("# DeViSE <tiny> & test"));
  assert.ok(html.includes("DeViSE &lt;tiny&gt; &amp; test"));
  assert.ok(!/https?:\/\//.test(html), "report.html must not reference the network");
  assert.ok(!/<(link|script)\b/i.test(html), "no external resources");
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 2);
  assert.equal((html.match(/<svg /g) ?? []).length, 3);
  assertWellFormed(html.replace(/^<!doctype html>/i, ""), "report.html");
  for (const svg of paths.svgs) {
    const text = await Deno.readTextFile(join(dir, svg));
    assertWellFormed(text, svg);
    assert.ok(md.includes(`(${svg})`), `report.md links ${svg}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("line charts of epochs get whole-number ticks", () => {
  assert.deepEqual(integerTicks(1, 3), [1, 2, 3]);
  assert.deepEqual(integerTicks(1, 10), [0, 2, 4, 6, 8, 10]);
  const svg = lineChartSvg({
    title: "t",
    xLabel: "epoch",
    yLabel: "y",
    integerX: true,
    series: [{ name: "a", points: [[1, 0.1], [2, 0.2], [3, 0.3]] }],
  });
  const xTicks = [...svg.matchAll(/text-anchor="middle" fill="#444">([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(xTicks, ["1", "2", "3"]);
  const plain = lineChartSvg({
    title: "t",
    xLabel: "epoch",
    yLabel: "y",
    series: [{ name: "a", points: [[1, 0.1], [2, 0.2], [3, 0.3]] }],
  });
  assert.ok(/>1\.5</.test(plain), "without integerX the ticks are the nice real ones");
});
