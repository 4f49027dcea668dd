// One bundle for the router: dist/6to4-pmt.js, CommonJS so plain `node` (18+) runs it with no
// package.json beside it; the native addon is copied next to it and loaded at run time.
import typescript from "@rollup/plugin-typescript";
import { rollup } from "rollup";
import { copyFileSync, existsSync, renameSync, statSync, chmodSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";

/** Prints the bundle size (tracked per release) and places the addon beside the bundle. */
function finish() {
  return {
    name: "6to4-pmt-finish",
    writeBundle(options) {
      const file = options.file;
      chmodSync(file, 0o755);
      const size = statSync(file).size;
      const addon = "build/Release/pmt_native.node";
      // Copy, then rename over: a daemon still running from dist/ (a kept lab) has the old
      // file mapped, and rewriting that file in place would crash it (SIGBUS).
      if (existsSync(addon)) {
        copyFileSync(addon, "dist/pmt_native.node.tmp");
        renameSync("dist/pmt_native.node.tmp", "dist/pmt_native.node");
      }
      writeFileSync("dist/package.json", JSON.stringify({ type: "commonjs" }) + "\n");
      console.log(`bundle ${file}: ${size} bytes (${(size / 1024).toFixed(1)} KiB)`);
      if (existsSync("dist/pmt_native.node")) {
        console.log(`addon dist/pmt_native.node: ${statSync("dist/pmt_native.node").size} bytes`);
      }
    },
  };
}

/**
 * The bundle's source text stays in the daemon's V8 heap for its whole life (lazy compilation
 * needs it). One non-ASCII character (a "§" in a message) makes V8 hold all of it as a two-byte
 * string; with every non-ASCII character written as a \uXXXX escape (the same value in strings,
 * templates, regular expressions and identifiers) and TypeScript's comments left out, the text is
 * about half the bytes and held one byte per character (docs/benchmark.md, Memory).
 */
function asciiOnly() {
  return {
    name: "6to4-pmt-ascii-only",
    renderChunk(code) {
      const out = code.replace(
        /[^\x00-\x7f]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      );
      return { code: out, map: null };
    },
  };
}

const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** The TypeScript plugin as both builds use it (comments left out, see asciiOnly). */
function compileTs() {
  return typescript({
    tsconfig: "tsconfig.json",
    include: ["module/**/*.ts"],
    compilerOptions: {
      module: "esnext",
      moduleResolution: "bundler",
      outDir: "dist",
      rootDir: ".",
      sourceMap: false,
      noEmit: false,
      removeComments: true,
    },
  });
}

/** The name of the function that holds the relay worker's code in the bundle. */
const WORKER_FUNCTION = "__pmtRelayWorker";

/**
 * A relay worker thread (cli/relay-workers.ts) runs only the modules its data plane needs
 * (cli/relay-worker-main.ts and what it imports, about a fifth of the bundle): each thread is a
 * V8 isolate of its own, and the whole bundle's source, top-level objects and compiled code
 * would cost it about 1.5 MB more. They are built separately and appended to the bundle as the
 * body of one function that the main thread never calls (V8 only pre-parses it); the main thread
 * passes that function's source text to each worker (`eval`), so one file is still all there is
 * to install.
 */
function relayWorkerSection() {
  return {
    name: "6to4-pmt-relay-worker",
    async renderChunk(code) {
      const b = await rollup({
        input: "module/cli/relay-worker-main.ts",
        external,
        plugins: [compileTs()],
      });
      const { output } = await b.generate({
        format: "cjs",
        generatedCode: "es2015",
        inlineDynamicImports: true,
        dynamicImportInCjs: false,
      });
      await b.close();
      const body = output[0].code;
      const fn = `function ${WORKER_FUNCTION}(require, module, exports, __filename, __dirname) {\n${body}}\n`;
      return { code: `${code}\n${fn}`, map: null };
    },
  };
}

export default {
  input: "module/cli/main.ts",
  output: {
    file: "dist/6to4-pmt.js",
    format: "cjs",
    banner: "#!/usr/bin/env node",
    generatedCode: "es2015",
    // `await import("node:http")` etc.: a lazy `require` of the builtin, in this one file.
    inlineDynamicImports: true,
    dynamicImportInCjs: false,
  },
  external,
  plugins: [compileTs(), relayWorkerSection(), asciiOnly(), finish()],
};
