// Every key of the chart's values.yaml is documented in its README, and the
// README documents no key that values.yaml lacks. A key is documented by a
// row of the table under "## Values" whose first cell is the key's dotted
// path in backticks (| `otlp.endpoint` | ...). Below a key whose row says "as is" (a
// Kubernetes object or agent configuration passed through unchanged) keys
// need no row of their own.
// usage: node values_documented.mjs values.yaml README.md
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const [valuesFile, readmeFile] = process.argv.slice(2);
if (!valuesFile || !readmeFile) {
  console.error("usage: node values_documented.mjs values.yaml README.md");
  process.exit(2);
}
const values = parse(readFileSync(valuesFile, "utf8"));
const rows = new Map();  // path -> the row's text
let inValues = false;
for (const line of readFileSync(readmeFile, "utf8").split("\n")) {
  if (line.startsWith("## ")) inValues = line.trim() === "## Values";
  if (!inValues) continue;
  const m = line.match(/^\|\s*`([A-Za-z0-9_.]+)`\s*\|/);
  if (m) rows.set(m[1], line);
}

const keys = [];
(function walk(obj, prefix) {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    keys.push(path);
    const passThrough = rows.get(path)?.includes("as is");
    if (v && typeof v === "object" && !Array.isArray(v) && !passThrough) walk(v, path);
  }
})(values, "");

const problems = [];
for (const k of keys) {
  if (rows.has(k)) continue;
  const covered = [...rows.keys()].some((r) => k.startsWith(r + ".") && rows.get(r).includes("as is"));
  if (!covered) problems.push(`${readmeFile}: no row for \`${k}\``);
}
for (const r of rows.keys()) {
  if (!keys.includes(r)) problems.push(`${readmeFile}: row for \`${r}\`, which values.yaml does not have`);
}
if (!rows.size) problems.push(`${readmeFile}: no "## Values" table`);
for (const p of problems) console.log(p);
if (problems.length) process.exit(1);
console.log(`all ${keys.length} keys of values.yaml documented`);
