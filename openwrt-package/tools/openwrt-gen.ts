/**
 * Renders the artefacts that module/config/schema.ts drives (STYLE.md example 10), so they never
 * drift from the daemon's option table:
 *   - docs/openwrt.md's option tables (between `<!-- options -->` and `<!-- /options -->`),
 *   - openwrt-package/6to4-pmt/files/6to4-pmt.config (/etc/config/6to4-pmt),
 *   - the generated block of openwrt-package/6to4-pmt/files/6to4-pmt.init (uci_load_validate
 *     specs and the UCI -> command-line mapping),
 * and copies the package scripts (openwrt-package/<pkg>/control/{postinst,prerm,postrm}, which
 * build-ipk.mjs packs) into the SDK Makefiles as `define Package/<pkg>/<script>` blocks, so the
 * SDK's packages run the same scripts.
 * `node out/openwrt-package/tools/openwrt-gen.js --write` rewrites them (tsc compiles this file
 * with the rest); test/unit/openwrt/generated.test.ts fails when a file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import {
  defaultText,
  isListType,
  optionsFor,
  typeText,
  uciValidateSpec,
  type OptionSpec,
  type Role,
} from "../../module/config/schema.js";

export const README_PATH = "docs/openwrt.md";
export const UCI_CONFIG_PATH = "openwrt-package/6to4-pmt/files/6to4-pmt.config";
export const INIT_PATH = "openwrt-package/6to4-pmt/files/6to4-pmt.init";

const README_BEGIN = "<!-- options -->";
const README_END = "<!-- /options -->";
const INIT_BEGIN =
  "# --- BEGIN GENERATED from module/config/schema.ts (openwrt-package/tools/openwrt-gen.ts) ---";
const INIT_END = "# --- END GENERATED ---";

function typeCell(o: OptionSpec): string {
  return typeText(o).replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|");
}

function defaultCell(o: OptionSpec): string {
  if (o.default === undefined) return o.defaultNote ? `*${o.defaultNote}*` : "—";
  const text = defaultText(o);
  let cell = text === "" ? "*(empty)*" : `\`${text}\``;
  if (o.uciDefault !== undefined) cell += ` (OpenWrt: \`${o.uciDefault}\`)`;
  return cell;
}

/** The options /etc/config/6to4-pmt may set (the init script passes them on). */
function uciOptions(role: Role): OptionSpec[] {
  return optionsFor(role).filter((o) => o.commandLineOnly !== true);
}

function table(role: Role): string {
  const rows = optionsFor(role).map((o) => {
    const rfc = o.rfc ? ` ${o.rfc}.` : "";
    const where = o.commandLineOnly ? " *Command line / JSON only: not read from UCI.*" : "";
    const desc = `${o.description}${rfc}${where}`.replace(/\|/g, "\\|");
    return `| \`${o.name}\` / \`${o.flag}\` | ${typeCell(o)} | ${defaultCell(o)} | ${desc} |`;
  });
  return ["| Option | Type | Default | Description |", "|---|---|---|---|", ...rows].join("\n");
}

/** The README section between the options markers (markers excluded). */
export function renderReadmeOptions(): string {
  return [
    "",
    "Generated from `module/config/schema.ts` (`node out/openwrt-package/tools/openwrt-gen.js --write`).",
    "UCI option = JSON config key; flag = `--` + name with `_` → `-`. Lists: repeat the flag or",
    "separate with commas (UCI: `list`). Booleans: `0`/`1` (flags also take bare `--x` / `--no-x`).",
    "Command-line flags override the JSON config file, which overrides the defaults.",
    "",
    "### CPE: `6to4-pmt cpe`, UCI `config cpe 'cpe'`",
    "",
    table("cpe"),
    "",
    "### Relay: `6to4-pmt relay`, UCI `config relay 'relay'`",
    "",
    table("relay"),
    "",
  ].join("\n");
}

function uciLines(role: Role): string[] {
  const lines: string[] = [`config ${role} '${role}'`];
  const fixed = optionsFor(role).filter((o) => o.commandLineOnly === true);
  if (fixed.length > 0) {
    lines.push(
      `\t# Not read from here (LuCI may write this file): ${fixed.map((o) => o.name).join(", ")};`,
      "\t# the package's built-in paths apply (docs/openwrt.md).",
    );
  }
  for (const o of uciOptions(role)) {
    lines.push(`\t# ${o.description}${o.rfc ? ` (${o.rfc})` : ""}`);
    const value = o.uciDefault ?? (o.default === undefined ? "" : defaultText(o));
    // Only `enabled` and OpenWrt-specific defaults are set; the rest stay commented so the daemon's
    // defaults (the same table) apply, and LuCI shows them as placeholders.
    const active = o.name === "enabled" || o.uciDefault !== undefined;
    const hash = active ? "" : "#";
    if (isListType(o.type)) {
      const values = Array.isArray(o.default) && o.default.length > 0 ? o.default : [""];
      for (const v of values) lines.push(`\t${hash}list ${o.name} '${v}'`);
    } else {
      lines.push(`\t${hash}option ${o.name} '${value}'`);
    }
  }
  return lines;
}

/** /etc/config/6to4-pmt as shipped: disabled (RFC 7526 §5), every option documented. */
export function renderUciConfig(): string {
  return (
    [
      "# /etc/config/6to4-pmt: 6to4 Provider Managed Tunnels (RFC 6732).",
      "# Generated from module/config/schema.ts. 6to4 is Historic (RFC 7526 §5): nothing runs until",
      "# enabled is '1'. Commented options show their default; `6to4-pmt cpe --help` lists every option.",
      "",
      ...uciLines("cpe"),
      "",
      ...uciLines("relay"),
    ].join("\n") + "\n"
  );
}

function shellVar(name: string): string {
  return "$" + name;
}

/** The generated block of the init script (markers included). */
export function renderInitBlock(): string {
  const out: string[] = [INIT_BEGIN];
  for (const role of ["cpe", "relay"] as const) {
    out.push(`# uci_load_validate spec of 'config ${role}': name:datatype[:default]`);
    out.push(`pmt_spec_${role}() {`);
    const specs = uciOptions(role).map((o) => `\t\t'${uciValidateSpec(o)}'`);
    out.push("\tprintf '%s\\n' \\");
    out.push(specs.join(" \\\n"));
    out.push("}");
    out.push("");
  }
  for (const role of ["cpe", "relay"] as const) {
    out.push(`# UCI option -> \`6to4-pmt ${role}\` flag; unset options keep the daemon's defaults`);
    out.push(`pmt_flags_${role}() {`);
    for (const o of uciOptions(role)) {
      const fn = isListType(o.type) ? "pmt_list" : "pmt_flag";
      out.push(`\t${fn} ${o.flag} "${shellVar(o.name)}"`);
    }
    out.push("}");
    out.push("");
  }
  out.push(INIT_END);
  return out.join("\n");
}

/** The SDK Makefiles and the control directories whose scripts they carry. */
export const PACKAGE_SCRIPT_SOURCES = [
  { pkg: "6to4-pmt", makefile: "openwrt-package/6to4-pmt/Makefile" },
  { pkg: "luci-app-6to4-pmt", makefile: "openwrt-package/luci-app-6to4-pmt/Makefile" },
] as const;
export const PACKAGE_SCRIPTS = ["postinst", "prerm", "postrm"] as const;
const MK_BEGIN = "# --- BEGIN GENERATED from control/ (openwrt-package/tools/openwrt-gen.ts) ---\n";
const MK_END = "# --- END GENERATED ---\n";

export function controlScriptPath(pkg: string, script: string): string {
  return `openwrt-package/${pkg}/control/${script}`;
}

/**
 * The Makefile block for `pkg`: one `define Package/<pkg>/<script>` per control script, with
 * make's `$` escaped as `$$` (a define body is literal otherwise; the SDK writes the expanded
 * text to the ipk's control/<script>). `read` returns a control script's text.
 */
export function renderMakefileScripts(pkg: string, read: (path: string) => string): string {
  const out: string[] = [];
  for (const script of PACKAGE_SCRIPTS) {
    const body = read(controlScriptPath(pkg, script)).replace(/\n$/, "").replace(/\$/g, "$$$$");
    out.push(`define Package/${pkg}/${script}`, body, "endef", "");
  }
  return out.join("\n");
}

export function expectedMakefile(
  current: string,
  pkg: string,
  read: (path: string) => string = (p) => readFileSync(p, "utf8"),
): string {
  return replaceBetween(current, MK_BEGIN, MK_END, renderMakefileScripts(pkg, read), true);
}

/** Replaces the text between two markers; throws when they are missing. */
export function replaceBetween(
  text: string,
  begin: string,
  end: string,
  body: string,
  keepMarkers: boolean,
): string {
  const a = text.indexOf(begin);
  const b = text.indexOf(end, a + 1);
  if (a < 0 || b < 0) throw new Error(`markers ${begin} ... ${end} not found`);
  return keepMarkers
    ? text.slice(0, a + begin.length) + body + text.slice(b)
    : text.slice(0, a) + body + text.slice(b + end.length);
}

export function expectedReadme(current: string): string {
  return replaceBetween(current, README_BEGIN, README_END, renderReadmeOptions(), true);
}

export function expectedInit(current: string): string {
  return replaceBetween(current, INIT_BEGIN, INIT_END, renderInitBlock(), false);
}

if (require.main === module) {
  const write = process.argv.includes("--write");
  const files: [string, string][] = [
    [README_PATH, expectedReadme(readFileSync(README_PATH, "utf8"))],
    [UCI_CONFIG_PATH, renderUciConfig()],
    [INIT_PATH, expectedInit(readFileSync(INIT_PATH, "utf8"))],
    ...PACKAGE_SCRIPT_SOURCES.map(({ pkg, makefile }): [string, string] => [
      makefile,
      expectedMakefile(readFileSync(makefile, "utf8"), pkg),
    ]),
  ];
  let stale = 0;
  for (const [path, text] of files) {
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {
      /* missing: stale */
    }
    if (current === text) continue;
    stale++;
    if (write) {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    } else {
      console.log(`stale ${path}`);
    }
  }
  process.exitCode = stale > 0 && !write ? 1 : 0;
}
