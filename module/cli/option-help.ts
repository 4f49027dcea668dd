/**
 * The option list of `6to4-pmt cpe --help` and `6to4-pmt relay --help`, generated from the schema
 * (config/schema.ts), so the router's own help lists every option with its type, default and
 * meaning (the .ipk ships no README).
 */
import { defaultText, optionsFor, typeText, type OptionSpec, type Role } from "../config/schema.js";

/** Help text width, as a terminal's 80 columns. */
const WIDTH = 80;
const INDENT = "      ";

function defaultLine(o: OptionSpec): string {
  if (o.default === undefined) return o.defaultNote ? `default: ${o.defaultNote}` : "no default";
  const text = defaultText(o);
  const shown = text === "" ? "(empty)" : text;
  return o.uciDefault === undefined
    ? `default ${shown}`
    : `default ${shown} (OpenWrt: ${o.uciDefault})`;
}

/** Splits `text` into lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * One entry per option of `role`, in schema order: the flag with its type and default, then the
 * description (and RFC) indented below it, e.g.
 *   --tunnel-mtu  int 1280..65515 (bytes), default: WAN MTU - 20
 *         IPv6 MTU of the tunnel ...
 */
export function formatOptionHelp(role: Role): string {
  const lines = [
    `Options of '${role}' (UCI option name with _ -> -; a list takes the flag repeated or`,
    "comma-separated; a boolean takes 0/1, or bare --x / --no-x):",
  ];
  for (const o of optionsFor(role)) {
    lines.push(`  ${o.flag}  ${typeText(o)}, ${defaultLine(o)}`);
    const rfc = o.rfc ? ` ${o.rfc}.` : "";
    for (const l of wrap(`${o.description}${rfc}`, WIDTH - INDENT.length)) {
      lines.push(INDENT + l);
    }
  }
  return lines.join("\n");
}
