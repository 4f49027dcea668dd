/**
 * Runs openwrt-package/6to4-pmt/files/6to4-pmt.init under busybox ash (dash if busybox is
 * missing) against the STAND-IN for OpenWrt's rc.common/procd.sh/functions.sh/network.sh in
 * test/unit/openwrt/standin/ (not OpenWrt code), and returns the procd instances it opened.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const INIT_SCRIPT = resolve("openwrt-package/6to4-pmt/files/6to4-pmt.init");
export const STANDIN_DIR = resolve("test/unit/openwrt/standin");
/** The compiled CLI (`npx tsc`): the init script runs `6to4-pmt <role> --check-config` with it. */
export const CLI_MAIN = resolve("out/module/cli/main.js");
const NETIFD_HOOK = resolve("openwrt-package/6to4-pmt/files/netifd-prefix");
const WIRING = resolve("openwrt-package/6to4-pmt/files/6to4-pmt.wiring");
export const STANDIN_SHELL = existsSync("/usr/bin/busybox")
  ? ["/usr/bin/busybox", "sh"]
  : ["/bin/sh"];

export interface ProcdInstance {
  name: string;
  command: string[];
  params: Map<string, string[]>;
}

export interface InitRun {
  status: number | null;
  stderr: string;
  /** Every recorded procd/logger call, one per line. */
  log: string[];
  instances: ProcdInstance[];
}

/** A scratch root (IPKG_INSTROOT) with the network.sh stand-in; `remove()` when done. */
export class InitStandin {
  readonly root = mkdtempSync(join(tmpdir(), "6to4-pmt-init-"));
  private seq = 0;

  constructor() {
    mkdirSync(join(this.root, "lib/functions"), { recursive: true });
    // network.sh stand-in: the WAN's L3 device and IPv4 address come from the environment.
    writeFileSync(
      join(this.root, "lib/functions/network.sh"),
      'network_get_device() { eval "$1=\\"\\${STANDIN_DEVICE_$2:-}\\""; }\n' +
        'network_get_ipaddr() { eval "$1=\\"\\${STANDIN_IPADDR_$2:-}\\""; }\n',
    );
    // /usr/sbin/6to4-pmt: the real CLI (as the launcher runs the bundle). Its check resolves the
    // package's netifd hook at /usr/lib/6to4-pmt/netifd-prefix: the CLI runs in a private mount
    // namespace where an overlay adds that file (root-owned, 0755) to the host's /usr/lib.
    const libAdd = join(this.root, "usr-lib-add");
    mkdirSync(join(libAdd, "6to4-pmt"), { recursive: true, mode: 0o755 });
    chmodSync(this.root, 0o755);
    chmodSync(libAdd, 0o755);
    chmodSync(join(libAdd, "6to4-pmt"), 0o755);
    copyFileSync(NETIFD_HOOK, join(libAdd, "6to4-pmt/netifd-prefix"));
    chmodSync(join(libAdd, "6to4-pmt/netifd-prefix"), 0o755);
    mkdirSync(join(this.root, "usr/lib/6to4-pmt"), { recursive: true });
    copyFileSync(WIRING, join(this.root, "usr/lib/6to4-pmt/wiring"));
    chmodSync(join(this.root, "usr/lib/6to4-pmt/wiring"), 0o755);
    // /etc/init.d/network and firewall: record their action in the procd log.
    mkdirSync(join(this.root, "etc/init.d"), { recursive: true });
    for (const svc of ["network", "firewall"]) {
      writeFileSync(
        join(this.root, "etc/init.d", svc),
        `#!/bin/sh\nprintf 'init.d/${svc} %s\\n' "$*" >> "$PROCD_LOG"\n`,
        { mode: 0o755 },
      );
    }
    mkdirSync(join(this.root, "usr/sbin"), { recursive: true });
    writeFileSync(
      join(this.root, "usr/sbin/6to4-pmt"),
      "#!/bin/sh\n" +
        `exec unshare -m sh -c 'mount -t overlay overlay -o lowerdir=${libAdd}:/usr/lib /usr/lib && ` +
        `exec "$0" "$@"' "${process.execPath}" "${CLI_MAIN}" "$@"\n`,
      { mode: 0o755 },
    );
  }

  /** Runs `/etc/init.d/6to4-pmt <action>` with `uci` as /etc/config/6to4-pmt. */
  run(
    uci: string,
    action: "start" | "triggers",
    env: Record<string, string> = {},
    dir = this.caseDir(),
  ): InitRun {
    writeFileSync(join(dir, "6to4-pmt"), uci);
    const log = join(dir, "procd.log");
    writeFileSync(log, "");
    const r = spawnSync(
      STANDIN_SHELL[0]!,
      [...STANDIN_SHELL.slice(1), join(STANDIN_DIR, "rc.common"), INIT_SCRIPT, action],
      {
        encoding: "utf8",
        timeout: 20_000,
        env: {
          PATH: `${STANDIN_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
          NODE: process.execPath,
          STANDIN: STANDIN_DIR,
          UCI_CONFIG_DIR: dir,
          PROCD_LOG: log,
          IPKG_INSTROOT: this.root,
          STANDIN_DEVICE_wan: "eth1",
          STANDIN_IPADDR_wan: "192.0.2.1",
          ...env,
        },
      },
    );
    const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
    const instances: ProcdInstance[] = [];
    let cur: ProcdInstance | null = null;
    let param = "";
    for (const l of lines) {
      if (l.startsWith("open_instance ")) {
        cur = { name: l.slice(14), command: [], params: new Map() };
        instances.push(cur);
      } else if (cur && (l.startsWith("set_param ") || l.startsWith("append_param "))) {
        param = l.split(" ")[1]!;
        if (l.startsWith("set_param ")) cur.params.set(param, []);
      } else if (cur && l.startsWith("arg ")) {
        cur.params.get(param)!.push(l.slice(4));
      } else if (l === "close_instance") {
        if (cur) cur.command = cur.params.get("command") ?? [];
        cur = null;
      }
    }
    return { status: r.status, stderr: r.stderr, log: lines, instances };
  }

  /** A new UCI config directory (/etc/config) for one run or a sequence of runs. */
  caseDir(): string {
    const dir = join(this.root, `case${this.seq++}`);
    mkdirSync(dir);
    return dir;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** argv after `6to4-pmt cpe` -> the Map the CLI hands to parse*Config. */
export function flagsOf(argv: readonly string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    m.set(k, [...(m.get(k) ?? []), argv[i + 1]!]);
  }
  return m;
}
