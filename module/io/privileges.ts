/**
 * Process privileges: the capability sets the kernel reports in /proc/<pid>/status, the user a
 * daemon switches to, and the one-way drop (native/privileges.c: bounding set, uid/gid,
 * capabilities, ambient set for child `ip` processes, no_new_privs). Which capabilities a daemon
 * keeps is decided by its caller (cli/privilege-drop.ts).
 */
import { readFileSync } from "node:fs";
import { loadNative, type NativeBinding } from "../native/loader.js";

/** Capability numbers of linux/capability.h that the daemons check or keep. */
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_NET_BIND_SERVICE = 10;
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

/** linux/capability.h names by number, for messages (lower case, as capabilities(7) and setpriv). */
const CAP_NAMES: readonly string[] = [
  "chown",
  "dac_override",
  "dac_read_search",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "setpcap",
  "linux_immutable",
  "net_bind_service",
  "net_broadcast",
  "net_admin",
  "net_raw",
  "ipc_lock",
  "ipc_owner",
  "sys_module",
  "sys_rawio",
  "sys_chroot",
  "sys_ptrace",
  "sys_pacct",
  "sys_admin",
  "sys_boot",
  "sys_nice",
  "sys_resource",
  "sys_time",
  "sys_tty_config",
  "mknod",
  "lease",
  "audit_write",
  "audit_control",
  "setfcap",
  "mac_override",
  "mac_admin",
  "syslog",
  "wake_alarm",
  "block_suspend",
  "audit_read",
  "perfmon",
  "bpf",
  "checkpoint_restore",
];

/** `cap_net_admin` for 12; `cap_63` for a number this table does not know. */
export function capabilityName(cap: number): string {
  return `cap_${CAP_NAMES[cap] ?? String(cap)}`;
}

/** A set of capability numbers as the kernel's bit mask. */
export function capabilityMask(caps: readonly number[]): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}

/** The capability numbers in `mask`, ascending. */
export function capabilitiesIn(mask: bigint): number[] {
  const out: number[] = [];
  for (let c = 0; c < 64; c++) if ((mask >> BigInt(c)) & 1n) out.push(c);
  return out;
}

/** The capability sets of one /proc/<pid>/status (hex masks), plus NoNewPrivs and the uids. */
export interface ProcessCredentials {
  readonly capInh: bigint;
  readonly capPrm: bigint;
  readonly capEff: bigint;
  readonly capBnd: bigint;
  readonly capAmb: bigint;
  readonly noNewPrivs: boolean;
  /** Real, effective, saved, filesystem uid. */
  readonly uids: readonly number[];
  readonly gids: readonly number[];
}

function field(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, "m").exec(text);
  return m?.[1]?.trim();
}

function hexMask(text: string, name: string): bigint | undefined {
  const v = field(text, name);
  return v !== undefined && /^[0-9a-fA-F]{1,16}$/.test(v) ? BigInt(`0x${v}`) : undefined;
}

function ids(text: string, name: string): number[] | undefined {
  const v = field(text, name);
  if (v === undefined) return undefined;
  const parts = v.split(/\s+/).map(Number);
  return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0)
    ? parts
    : undefined;
}

/**
 * Parses the text of /proc/<pid>/status; undefined when a capability line or the Uid/Gid lines
 * are missing or malformed (NoNewPrivs absent: kernels before 4.10 report none, taken as 0).
 */
export function parseProcStatus(text: string): ProcessCredentials | undefined {
  const capInh = hexMask(text, "CapInh");
  const capPrm = hexMask(text, "CapPrm");
  const capEff = hexMask(text, "CapEff");
  const capBnd = hexMask(text, "CapBnd");
  const capAmb = hexMask(text, "CapAmb") ?? 0n;
  const uids = ids(text, "Uid");
  const gids = ids(text, "Gid");
  if (
    capInh === undefined ||
    capPrm === undefined ||
    capEff === undefined ||
    capBnd === undefined ||
    uids === undefined ||
    gids === undefined
  ) {
    return undefined;
  }
  const nnp = field(text, "NoNewPrivs");
  return { capInh, capPrm, capEff, capBnd, capAmb, noNewPrivs: nnp === "1", uids, gids };
}

/** This process's (main thread's) credentials; undefined when /proc is not readable. */
export function ownCredentials(): ProcessCredentials | undefined {
  try {
    return parseProcStatus(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return undefined;
  }
}

/** A user to switch to: numeric ids and how the operator named it. */
export interface UserIds {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const ID = /^(?:0|[1-9][0-9]{0,9})$/;
/** Largest uid/gid taken (the addon reads them as int32; -1 there means "stay"). */
const MAX_ID = 0x7fffffff;

/**
 * Resolves `spec` — a user name of /etc/passwd (its primary group), a uid (the passwd entry's
 * group when there is one, else gid = uid) or `uid:gid` — against the text of /etc/passwd.
 * Returns the ids, or why not (one phrase).
 */
export function resolveUser(spec: string, passwd: string): UserIds | string {
  const entries = passwd
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 4 && ID.test(f[2] ?? "") && ID.test(f[3] ?? ""));
  const pair = /^([0-9]+):([0-9]+)$/.exec(spec);
  if (pair) {
    const [, u, g] = pair;
    if (!ID.test(u!) || !ID.test(g!) || Number(u) > MAX_ID || Number(g) > MAX_ID) {
      return "uid:gid out of range";
    }
    return { name: spec, uid: Number(u), gid: Number(g) };
  }
  if (ID.test(spec)) {
    const uid = Number(spec);
    if (uid > MAX_ID) return "uid out of range";
    const e = entries.find((f) => Number(f[2]) === uid);
    return { name: e?.[0] ?? spec, uid, gid: e ? Number(e[3]) : uid };
  }
  const e = entries.find((f) => f[0] === spec);
  if (!e) return "no such user in /etc/passwd";
  return { name: spec, uid: Number(e[2]), gid: Number(e[3]) };
}

/** resolveUser against this system's /etc/passwd. */
export function lookupUser(spec: string): UserIds | string {
  let passwd = "";
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    // No passwd file (a minimal container): only numeric ids resolve.
  }
  return resolveUser(spec, passwd);
}

/**
 * Drops to `user` (null: stay this user) with exactly the capabilities `keep` (permitted,
 * effective, inheritable, ambient; and the bounding set when started with CAP_SETPCAP), then sets
 * no_new_privs. One way: nothing can be regained. @throws Error naming the failed step
 */
export function dropPrivileges(
  user: UserIds | null,
  keep: readonly number[],
  binding: NativeBinding = loadNative(),
): { boundingReduced: boolean } {
  return binding.dropPrivileges(user?.uid ?? -1, user?.gid ?? -1, [...keep]);
}
