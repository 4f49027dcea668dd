// The import rule of the code base: cli -> control -> dataplane -> codec -> addr; log/ is a leaf
// everyone may import; control and dataplane see io/ only through its ports (ports.ts, ring.ts);
// config/ is read by cli/ (control/: types only); status/ sees only types; only io/ imports
// native/; nothing imports cli/ except lab/ (its argv parser and exit codes). And no import cycle
// between files.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as ts from "typescript";

/** The repository (this file runs from out/test/unit/). */
const ROOT = path.join(__dirname, "..", "..", "..");
const MODULE = path.join(ROOT, "module");

/** Folder -> the folders (or `folder:file`) its files may import, besides itself and log/. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  log: [],
  addr: [],
  codec: ["addr"],
  native: [],
  io: ["native", "codec", "addr"],
  dataplane: ["codec", "addr", "io:ports", "io:ring"],
  config: ["addr"],
  status: [],
  control: ["dataplane", "codec", "addr", "io:ports", "io:ring", "status"],
  cli: ["control", "dataplane", "codec", "addr", "io", "config", "status", "lab"],
  lab: ["addr", "codec", "config", "status", "cli:args", "cli:exit-codes"],
};
/** Folder -> folders it may import types (only) from. */
const TYPES_ONLY: Readonly<Record<string, readonly string[]>> = {
  control: ["config"],
  status: Object.keys(ALLOWED),
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

interface Import {
  target: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
  const out: Import[] = [];
  for (const st of sf.statements) {
    let typeOnly: boolean;
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause;
      const named = c?.namedBindings;
      typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.every((e) => e.isTypeOnly)));
    } else if (ts.isExportDeclaration(st)) {
      typeOnly = st.isTypeOnly;
    } else continue;
    const spec = st.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith(".")) continue;
    const target = path.resolve(path.dirname(file), spec.text).replace(/\.js$/, ".ts");
    out.push({ target, typeOnly });
  }
  return out;
}

const files = sources(MODULE);
const graph = new Map(files.map((f) => [f, importsOf(f)] as const));

test("every import follows the layering rule", () => {
  const against: string[] = [];
  for (const [file, imports] of graph) {
    const from = path.relative(MODULE, file).split(path.sep)[0]!;
    for (const { target, typeOnly } of imports) {
      const parts = path.relative(MODULE, target).split(path.sep);
      const to = parts[0]!;
      const name = parts[parts.length - 1]!.replace(/\.ts$/, "");
      if (to === from || to === "log") continue;
      const allowed = ALLOWED[from] ?? [];
      if (allowed.includes(to) || allowed.includes(`${to}:${name}`)) continue;
      if (typeOnly && (TYPES_ONLY[from] ?? []).includes(to)) continue;
      against.push(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`);
    }
  }
  assert.deepEqual(against, []);
});

test("no import cycle between files", () => {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const { target } of graph.get(f) ?? []) {
      if (state.get(target) === "open") {
        const cycle = stack.slice(stack.indexOf(target)).concat(target);
        cycles.push(cycle.map((x) => path.relative(ROOT, x)).join(" -> "));
      } else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
