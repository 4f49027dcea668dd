// io/privileges.ts and cli/privilege-drop.ts without a running daemon: /proc/<pid>/status
// parsing (CapEff & co.), user resolution against a passwd text, the start check's one line, and
// the file hand-over rule (only directories named 6to4-pmt change owner).
import assert from "node:assert/strict";
import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  CAP_SETGID,
  CAP_SETUID,
  capabilitiesIn,
  capabilityMask,
  capabilityName,
  ownCredentials,
  parseProcStatus,
  resolveUser,
} from "../../../module/io/privileges.js";
import { handOverFiles, KEEP_CAPS, startRefusal } from "../../../module/cli/privilege-drop.js";

/** A /proc/<pid>/status as Linux 6.x writes it (fields the parser does not read included). */
function status(fields: Partial<Record<string, string>> = {}): string {
  const f: Record<string, string> = {
    Name: "node",
    Umask: "0022",
    State: "S (sleeping)",
    Uid: "0\t0\t0\t0",
    Gid: "0\t0\t0\t0",
    Groups: "0 ",
    CapInh: "0000000000000000",
    CapPrm: "000001ffffffffff",
    CapEff: "000001ffffffffff",
    CapBnd: "000001ffffffffff",
    CapAmb: "0000000000000000",
    NoNewPrivs: "0",
    Seccomp: "0",
    ...fields,
  } as Record<string, string>;
  return Object.entries(f)
    .map(([k, v]) => `${k}:\t${v}`)
    .join("\n");
}

test("parseProcStatus: the capability masks, NoNewPrivs and the four uids/gids", () => {
  const c = parseProcStatus(
    status({
      Uid: "65534\t65534\t65534\t65534",
      Gid: "65534\t65534\t65534\t65534",
      CapInh: "0000000000003000",
      CapPrm: "0000000000003000",
      CapEff: "0000000000003000",
      CapBnd: "0000000000003000",
      CapAmb: "0000000000003000",
      NoNewPrivs: "1",
    }),
  );
  assert.ok(c);
  assert.equal(c.capEff, capabilityMask([CAP_NET_ADMIN, CAP_NET_RAW]));
  assert.equal(c.capEff, 0x3000n);
  assert.equal(c.capAmb, 0x3000n);
  assert.equal(c.noNewPrivs, true);
  assert.deepEqual(c.uids, [65534, 65534, 65534, 65534]);
  assert.deepEqual(capabilitiesIn(c.capEff), [CAP_NET_ADMIN, CAP_NET_RAW]);
});

test("parseProcStatus: root's full set (the issue's 000001fffeffffff) reads as 40 capabilities", () => {
  const c = parseProcStatus(status({ CapEff: "000001fffeffffff" }));
  assert.ok(c);
  assert.equal(c.capEff, 0x1fffeffffffn);
  assert.equal(capabilitiesIn(c.capEff).length, 40);
  assert.ok(!capabilitiesIn(c.capEff).includes(24), "cap_sys_resource (24) is the one missing");
  assert.equal(c.noNewPrivs, false);
});

test("parseProcStatus: a missing or malformed line gives undefined; no CapAmb / NoNewPrivs (old kernels) = 0", () => {
  assert.equal(parseProcStatus(status({ CapEff: "zz" })), undefined);
  assert.equal(parseProcStatus(status({ CapEff: "00000000000000000" })), undefined, "17 digits");
  assert.equal(parseProcStatus(status({ Uid: "0\t0\t0" })), undefined);
  assert.equal(parseProcStatus("Name:\tnode\n"), undefined);
  const old = status()
    .replace(/^CapAmb:.*\n/m, "")
    .replace(/^NoNewPrivs:.*\n/m, "");
  const c = parseProcStatus(old);
  assert.ok(c);
  assert.equal(c.capAmb, 0n);
  assert.equal(c.noNewPrivs, false);
});

test("ownCredentials reads this process's /proc/self/status", () => {
  const c = ownCredentials();
  assert.ok(c);
  assert.equal(c.uids[0], process.getuid!());
});

test("capabilityName: capabilities(7) names, unknown numbers by number", () => {
  assert.equal(capabilityName(CAP_NET_ADMIN), "cap_net_admin");
  assert.equal(capabilityName(CAP_NET_RAW), "cap_net_raw");
  assert.equal(capabilityName(40), "cap_checkpoint_restore");
  assert.equal(capabilityName(63), "cap_63");
});

const PASSWD = [
  "root:x:0:0:root:/root:/bin/ash",
  "nobody:*:65534:65534:nobody:/var:/bin/false",
  "6to4pmt:x:65536:65537:6to4pmt:/var/run/6to4pmt:/bin/false",
  "broken:x:notanumber:1::/:/bin/false",
  "",
].join("\n");

test("resolveUser: name (primary group), uid (its passwd group, else gid = uid), uid:gid", () => {
  assert.deepEqual(resolveUser("6to4pmt", PASSWD), { name: "6to4pmt", uid: 65536, gid: 65537 });
  assert.deepEqual(resolveUser("nobody", PASSWD), { name: "nobody", uid: 65534, gid: 65534 });
  assert.deepEqual(resolveUser("65536", PASSWD), { name: "6to4pmt", uid: 65536, gid: 65537 });
  assert.deepEqual(resolveUser("1234", PASSWD), { name: "1234", uid: 1234, gid: 1234 });
  assert.deepEqual(resolveUser("1234:99", PASSWD), { name: "1234:99", uid: 1234, gid: 99 });
  assert.deepEqual(resolveUser("0", PASSWD), { name: "root", uid: 0, gid: 0 });
});

test("resolveUser: unknown names, malformed entries and out-of-range ids are refused", () => {
  assert.equal(resolveUser("daemon", PASSWD), "no such user in /etc/passwd");
  assert.equal(resolveUser("broken", PASSWD), "no such user in /etc/passwd");
  assert.equal(resolveUser("4294967295", PASSWD), "uid out of range");
  assert.equal(resolveUser("1:4294967295", PASSWD), "uid:gid out of range");
  assert.equal(resolveUser("-1", PASSWD), "no such user in /etc/passwd");
  assert.equal(resolveUser("01", PASSWD), "no such user in /etc/passwd");
});

test("startRefusal: net_admin + net_raw suffice (root or not); a user switch also needs setuid + setgid", () => {
  const creds = (eff: number[], uid = 1000) =>
    parseProcStatus(
      status({
        Uid: `${uid}\t${uid}\t${uid}\t${uid}`,
        CapEff: capabilityMask(eff).toString(16).padStart(16, "0"),
      }),
    )!;
  const nobody = { name: "nobody", uid: 65534, gid: 65534 };
  assert.equal(startRefusal(creds([CAP_NET_ADMIN, CAP_NET_RAW]), null, "--user"), undefined);
  assert.equal(
    startRefusal(creds([CAP_NET_ADMIN, CAP_NET_RAW], 65534), nobody, "--user"),
    undefined,
    "already that user",
  );
  assert.equal(
    startRefusal(creds([CAP_NET_ADMIN, CAP_NET_RAW, CAP_SETUID, CAP_SETGID], 0), nobody, "--user"),
    undefined,
  );
  assert.match(
    startRefusal(creds([]), null, "--user")!,
    /^missing capabilities cap_net_admin, cap_net_raw: run as root, or give the user cap_net_admin,cap_net_raw as ambient capabilities/,
  );
  assert.match(
    startRefusal(creds([CAP_NET_ADMIN]), null, "--user")!,
    /^missing capabilities cap_net_raw:/,
  );
  assert.match(
    startRefusal(creds([CAP_NET_ADMIN, CAP_NET_RAW]), nobody, "--user")!,
    /^missing capabilities cap_setgid, cap_setuid \(--user nobody needs them to switch users\)/,
  );
});

test("KEEP_CAPS: the cpe keeps net_admin and net_raw, the relay nothing", () => {
  assert.deepEqual(KEEP_CAPS.cpe, [CAP_NET_ADMIN, CAP_NET_RAW]);
  assert.deepEqual(KEEP_CAPS.relay, []);
});

const root = mkdtempSync(join(tmpdir(), "pmt-privileges-"));
after(() => rmSync(root, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0 ? false : "chown needs root";

test(
  "handOverFiles: the package's own directory (created if missing) and existing files change owner; other directories do not",
  { skip: asRoot },
  () => {
    const nobody = { name: "nobody", uid: 65534, gid: 65534 };
    const other = join(root, "var-run");
    mkdirSync(other, { mode: 0o755 });
    const sock = join(other, "6to4-pmt.sock");
    writeFileSync(sock, "");
    const state = join(root, "lib", "6to4-pmt", "state.json");
    const warnings = handOverFiles([state, sock], nobody);
    const dir = statSync(join(root, "lib", "6to4-pmt"));
    assert.equal(dir.uid, 65534);
    assert.equal(dir.mode & 0o777, 0o750);
    assert.equal(statSync(sock).uid, 65534, "the socket file itself");
    assert.equal(statSync(other).uid, 0, "a directory not named 6to4-pmt is left alone");
    assert.deepEqual(warnings, [`${sock}: directory ${other} is not writable by user nobody`]);
    // An existing state file from an earlier run is handed over too.
    writeFileSync(state, "{}");
    assert.deepEqual(handOverFiles([state], nobody), []);
    assert.equal(statSync(state).uid, 65534);
  },
);

/** A home directory outside /var, /run and /tmp (the clone itself may be below /tmp). */
const outsideBase = ((): string | undefined => {
  try {
    const h = realpathSync(homedir());
    return /^\/(var|run|tmp)(\/|$)/.test(h) ? undefined : h;
  } catch {
    return undefined;
  }
})();

test(
  "handOverFiles: a 6to4-pmt directory outside /var, /run and /tmp, or reached through a symlink, is left alone",
  {
    skip:
      asRoot || (outsideBase === undefined ? "no home directory outside /var, /run, /tmp" : false),
  },
  () => {
    const nobody = { name: "nobody", uid: 65534, gid: 65534 };
    // Not variable data (like /usr/lib/6to4-pmt, code run as root): below root's home.
    const outside = mkdtempSync(join(outsideBase!, ".6to4-pmt-handover-"));
    try {
      const code = join(outside, "6to4-pmt");
      mkdirSync(code, { mode: 0o755 });
      const state = join(code, "state.json");
      assert.deepEqual(handOverFiles([state], nobody), [
        `${state}: directory ${code} is not writable by user nobody`,
      ]);
      assert.equal(statSync(code).uid, 0);
      // The same directory through a symlink below /tmp.
      const link = join(root, "link");
      symlinkSync(outside, link);
      const viaLink = join(link, "6to4-pmt", "state.json");
      assert.equal(handOverFiles([viaLink], nobody).length, 1);
      assert.equal(statSync(code).uid, 0);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  },
);
