// STAND-IN for OpenWrt's UCI reader and ubox `validate_data` (used by procd.sh uci_load_validate),
// reduced to what the 6to4-pmt init-script tests need. Not OpenWrt code.
//
//   node uci-standin.mjs shell <confdir> <package>
//       prints CONFIG_SECTIONS / CONFIG_<section>_TYPE / CONFIG_<section>_<option> assignments
//   node uci-standin.mjs validate <confdir> <package> <type> <section> <name:datatype[:default]>...
//       prints `name='value'` for each spec; exit 1 and a line per bad option on stderr if invalid
import { readFileSync, writeFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { join } from "node:path";

/** Parses a UCI file into [{ type, name, options: Map<string, string | string[]> }]. */
export function parseUci(text) {
  const sections = [];
  let anon = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const words = [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
    const [kw, a, b] = words;
    if (kw === "config") {
      sections.push({
        type: a,
        name: b ?? `cfg${anon++}`,
        anonymous: b === undefined,
        options: new Map(),
      });
    } else if (kw === "option" && sections.length > 0) {
      sections[sections.length - 1].options.set(a, b ?? "");
    } else if (kw === "list" && sections.length > 0) {
      const opts = sections[sections.length - 1].options;
      const cur = opts.get(a);
      opts.set(a, [...(Array.isArray(cur) ? cur : []), b ?? ""]);
    }
  }
  return sections;
}

/** A section by name or by `@type[index]` (anonymous sections count too, as in uci). */
export function findSection(sections, ref) {
  const m = /^@([^[]+)\[(-?\d+)\]$/.exec(ref ?? "");
  if (!m) return sections.find((s) => s.name === ref);
  const ofType = sections.filter((s) => s.type === m[1]);
  const i = Number(m[2]);
  return ofType[i < 0 ? ofType.length + i : i];
}

/** Sections back to UCI file text. */
export function serializeUci(sections) {
  const out = [];
  for (const s of sections) {
    out.push(s.anonymous ? `config ${s.type}` : `config ${s.type} '${s.name}'`);
    for (const [k, v] of s.options) {
      if (Array.isArray(v)) for (const e of v) out.push(`\tlist ${k} '${e}'`);
      else out.push(`\toption ${k} '${v}'`);
    }
    out.push("");
  }
  return out.join("\n");
}

const sq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function splitArgs(s) {
  const out = [];
  let depth = 0;
  let cur = "";
  for (const c of s) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** ubox validate datatypes used by the init script. */
export function check(dt, value) {
  const m = /^([a-z0-9_]+)(?:\((.*)\))?$/.exec(dt);
  if (!m) throw new Error(`stand-in: unknown datatype ${dt}`);
  const [, fn, argText] = m;
  const args = argText === undefined ? [] : splitArgs(argText);
  switch (fn) {
    case "bool":
      return /^(0|1|true|false|yes|no|on|off|enabled|disabled)$/.test(value);
    case "uinteger":
      return /^[0-9]+$/.test(value);
    case "range":
      return /^-?[0-9]+(\.[0-9]+)?$/.test(value) && +value >= +args[0] && +value <= +args[1];
    case "string":
      return true;
    case "maxlength":
      return value.length <= +args[0];
    case "hostname":
      return /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(value) && value.length <= 255;
    case "ip4addr":
      return isIPv4(value);
    case "ip6addr":
      return isIPv6(value);
    case "cidr4": {
      const [a, l] = value.split("/");
      return isIPv4(a) && l !== undefined && /^[0-9]+$/.test(l) && +l <= 32;
    }
    case "cidr6": {
      const [a, l] = value.split("/");
      return isIPv6(a) && l !== undefined && /^[0-9]+$/.test(l) && +l <= 128;
    }
    case "or":
      return args.some((x) => (/^["']/.test(x) ? x.slice(1, -1) === value : check(x, value)));
    default:
      throw new Error(`stand-in: datatype ${fn} not implemented`);
  }
}

function loadPackage(confdir, pkg) {
  return parseUci(readFileSync(join(confdir, pkg), "utf8"));
}

const [cmd, confdir, pkg, ...rest] = process.argv.slice(2);
if (cmd === "shell") {
  const sections = loadPackage(confdir, pkg);
  const lines = [`CONFIG_SECTIONS=${sq(sections.map((s) => s.name).join(" "))}`];
  for (const s of sections) {
    lines.push(`CONFIG_${s.name}_TYPE=${sq(s.type)}`);
    for (const [k, v] of s.options)
      lines.push(`CONFIG_${s.name}_${k}=${sq(Array.isArray(v) ? v.join(" ") : v)}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
} else if (cmd === "validate") {
  const [type, name, ...specs] = rest;
  const section = loadPackage(confdir, pkg).find((s) => s.name === name && s.type === type);
  let bad = 0;
  const out = [];
  for (const spec of specs) {
    const [opt, dtRaw, ...defParts] = spec.split(":");
    const def = defParts.length > 0 ? defParts.join(":") : undefined;
    const listMatch = /^list\((.*)\)$/.exec(dtRaw);
    const dt = listMatch ? listMatch[1] : dtRaw;
    const raw = section?.options.get(opt);
    const values =
      raw === undefined
        ? []
        : Array.isArray(raw)
          ? raw
          : listMatch
            ? raw.split(/\s+/).filter(Boolean)
            : [raw];
    const failed = values.filter((v) => !check(dt, v));
    if (failed.length > 0) {
      bad++;
      process.stderr.write(`${pkg}.${name}.${opt}=${failed[0]} validates as ${dtRaw} with false\n`);
      out.push(`${opt}=${sq(def ?? "")}`);
    } else if (values.length === 0) {
      out.push(`${opt}=${sq(def ?? "")}`);
    } else {
      out.push(`${opt}=${sq(values.join(" "))}`);
    }
  }
  process.stdout.write(out.join("\n") + "\n");
  process.exitCode = bad > 0 ? 1 : 0;
} else if (cmd === "get") {
  // `uci -q get <package>.<section>[.<option>]`, section by name or `@type[index]`; exit 1 when unset.
  const [, sec, opt] = rest[0].split(".");
  const section = findSection(loadPackage(confdir, pkg), sec);
  const v = opt === undefined ? section?.type : section?.options.get(opt);
  if (v === undefined) process.exitCode = 1;
  else process.stdout.write((Array.isArray(v) ? v.join(" ") : v) + "\n");
} else if (["set", "delete", "add_list", "del_list"].includes(cmd)) {
  // `uci set|delete|add_list|del_list <package>.<section>[.<option>][=<value>]`, written at once
  // (the stand-in has no staging: `uci commit` is a no-op).
  const eq = rest[0].indexOf("=");
  const ref = eq < 0 ? rest[0] : rest[0].slice(0, eq);
  const value = eq < 0 ? undefined : rest[0].slice(eq + 1);
  const [, sec, opt] = ref.split(".");
  const sections = loadPackage(confdir, pkg);
  let section = findSection(sections, sec);
  if (cmd === "set" && opt === undefined) {
    if (section) section.type = value;
    else sections.push({ type: value, name: sec, anonymous: false, options: new Map() });
  } else if (!section) {
    process.exitCode = 1;
  } else if (cmd === "delete") {
    if (opt === undefined) sections.splice(sections.indexOf(section), 1);
    else section.options.delete(opt);
  } else if (cmd === "set") {
    section.options.set(opt, value);
  } else {
    const cur = section.options.get(opt);
    const list = cur === undefined ? [] : Array.isArray(cur) ? cur : [cur];
    const next = cmd === "add_list" ? [...list, value] : list.filter((v) => v !== value);
    if (next.length === 0) section.options.delete(opt);
    else section.options.set(opt, next);
  }
  if (process.exitCode !== 1) writeFileSync(join(confdir, pkg), serializeUci(sections));
} else {
  process.stderr.write(
    "usage: uci-standin.mjs shell|validate|get|set|delete|add_list|del_list ...\n",
  );
  process.exitCode = 2;
}
