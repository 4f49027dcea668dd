// One bundle for the router: dist/6to4-pmt.js, CommonJS so plain `node` (18+) runs it with no
// package.json beside it; the native addon is copied next to it and loaded at run time.
import typescript from "@rollup/plugin-typescript";
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
  external: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
  plugins: [
    typescript({
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
    }),
    asciiOnly(),
    finish(),
  ],
};
