// Checks Kubernetes manifests (multi-document YAML, files or stdin) against
// the API's schemas offline, as kubeconform -strict would:
//  1. each object's model from kubernetes-models (or the prometheus-operator
//     models for ServiceMonitor/PodMonitor) validates types, required
//     fields, enums and patterns;
//  2. TypeScript checks each object, as an object literal, against the same
//     package's interface for its kind: excess-property checks reject
//     unknown (misspelled) fields, which step 1 lets through;
//  3. rules the API server enforces beyond the schema that this chart could
//     break (a capability spelled CAP_SYS_ADMIN with allowPrivilegeEscalation
//     false is refused; env order decides what $(VAR) expands), and the
//     chart's promises for a DaemonSet: not privileged, ALL dropped, read-only
//     root filesystem and host paths, no privilege escalation, seccomp
//     RuntimeDefault.
// A kind the packages do not know is an error. Prints one line per problem
// and "N objects, M problems"; exits 1 on any problem, 2 on bad usage.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// apiVersion -> module directory holding <Kind>.js / <Kind>.d.ts.
function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1")
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  if (apiVersion === "v1") return `kubernetes-models/v1/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// "FILE: KIND/NAME" (the file, so one run can check several renders).
function describe(o, file) {
  return `${file}: ${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;
}

// Step 3: API-server rules this chart's values can break.
function semanticProblems(o) {
  const out = [];
  const spec = o.kind === "DaemonSet" ? o.spec?.template?.spec : o.kind === "Pod" ? o.spec : null;
  if (!spec) return out;
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    for (const cap of sc.capabilities?.add ?? []) {
      if (typeof cap === "string" && cap.startsWith("CAP_"))
        out.push(`container ${c.name}: capability ${cap}: Kubernetes spells it ${cap.slice(4)}` +
          (cap === "CAP_SYS_ADMIN" && sc.allowPrivilegeEscalation === false
            ? " (the API refuses CAP_SYS_ADMIN with allowPrivilegeEscalation: false)" : ""));
    }
    // The chart's own promises (docs/deployment.md), for every render.
    if (o.kind === "DaemonSet") {
      if (sc.privileged) out.push(`container ${c.name}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`container ${c.name}: does not drop ALL capabilities`);
      if (sc.readOnlyRootFilesystem !== true) out.push(`container ${c.name}: root filesystem not read only`);
      if (sc.allowPrivilegeEscalation !== false) out.push(`container ${c.name}: allowPrivilegeEscalation not false`);
      if (sc.seccompProfile?.type !== "RuntimeDefault") out.push(`container ${c.name}: seccompProfile not RuntimeDefault`);
      const hostPaths = new Set((spec.volumes ?? []).filter((v) => v.hostPath).map((v) => v.name));
      for (const m of c.volumeMounts ?? [])
        if (hostPaths.has(m.name) && m.readOnly !== true)
          out.push(`container ${c.name}: host path ${m.mountPath} mounted writable`);
    }
    const seen = new Set();
    for (const e of c.env ?? []) {
      for (const m of String(e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        if (!seen.has(m[1]) && (c.env ?? []).some((x) => x.name === m[1]))
          out.push(`container ${c.name}: env ${e.name} uses $(${m[1]}) before it is declared`);
      }
      seen.add(e.name);
    }
  }
  return out;
}

async function main() {
  const files = process.argv.slice(2);
  const inputs = files.length ? files.map((f) => [f, readFileSync(f, "utf8")]) : [["stdin", readFileSync(0, "utf8")]];
  const objects = [];
  const problems = [];
  for (const [file, text] of inputs) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) {
        problems.push(`${file}: YAML: ${doc.errors[0].message}`);
        continue;
      }
      const o = doc.toJS();
      if (o !== null && o !== undefined) objects.push({ file, o });
    }
  }

  // Step 1.
  const typed = [];
  for (const { file, o } of objects) {
    if (typeof o !== "object" || !o.apiVersion || !o.kind) {
      problems.push(`${describe(o, file)}: no apiVersion or kind`);
      continue;
    }
    const mod = modulePath(o.apiVersion, o.kind);
    let Model;
    try {
      Model = (await import(mod))[o.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      problems.push(`${describe(o, file)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      problems.push(`${describe(o, file)}: ${e.message}`);
    }
    for (const p of semanticProblems(o)) problems.push(`${describe(o, file)}: ${p}`);
    typed.push({ file, o, mod });
  }

  // Step 2: one line per object, so an error's line number names it.
  if (typed.length) {
    const dir = mkdtempSync(join(tmpdir(), "ksight-validate-"));
    try {
      const lines = typed.map(({ o, mod }, n) =>
        `import type { I${o.kind} as T${n} } from ${JSON.stringify(mod)};`);
      const first = lines.length + 1;
      typed.forEach(({ o }, n) => lines.push(`export const o${n}: T${n} = ${JSON.stringify(o)};`));
      // The packages resolve from the checked file's directory.
      symlinkSync(join(here, "node_modules"), join(dir, "node_modules"));
      writeFileSync(join(dir, "objects.ts"), lines.join("\n") + "\n");
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          strict: true, noEmit: true, skipLibCheck: true, types: [],
          module: "nodenext", moduleResolution: "nodenext",
        },
        files: ["objects.ts"],
      }));
      try {
        execFileSync(process.execPath,
          [join(here, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json"), "--pretty", "false"],
          { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        const out = (e.stdout ?? "") + (e.stderr ?? "");
        let any = false;
        for (const line of out.split("\n")) {
          const m = line.match(/objects\.ts\((\d+),\d+\): error (TS\d+: .*)/);
          if (!m) continue;
          any = true;
          const n = Number(m[1]) - first;
          const t = typed[n];
          problems.push(`${t ? describe(t.o, t.file) : "?"}: ${m[2]}`);
        }
        if (!any) problems.push(`tsc failed: ${out.trim() || e.message}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  for (const p of problems) console.log(p);
  console.log(`${objects.length} objects, ${problems.length} problems`);
  process.exit(problems.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
