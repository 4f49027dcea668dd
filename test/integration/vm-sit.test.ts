/**
 * The kernel's own 6to4 with prefix NAT, in a VM running Debian's kernel (this host has no `sit`;
 * test/support/vm.ts). One boot runs everything below; the VM has no network device.
 *
 *   h1 ── a ══ c ══ b ── h2      (namespaces p<pid>-h1 ... inside the guest)
 *   h1  2001:db8:a::10/64        LAN behind site a
 *   a   sit 6to4 from 192.0.2.1, 2002:c000:201::1/16; nft:
 *         postrouting oif sit: snat ip6 prefix to 2002:c000:201:1::/64 (from 2001:db8:a::/64)
 *         prerouting  iif sit: dnat ip6 prefix to 2001:db8:a::/64     (to 2002:c000:201:1::/64)
 *   c   IPv4 carrier 192.0.2.254 / 198.51.100.254
 *   b   plain sit 6to4 from 198.51.100.1, 2002:c633:6401::1/16
 *   h2  2002:c633:6401:1::20/64  LAN behind site b
 *
 * Checks: sit and the nft NAT modules load; 3 of 3 pings h1 -> h2 and h2 -> h1's translated
 * address; a TCP connection each way carries its data, and the listener sees the translated source
 * (2002:c000:201:1::10: prefix replaced, host bits kept) at h2 and h2's own address at h1;
 * a's NAT rules matched exactly the 2 new flows each way (nft counters); the carrier forwarded
 * the IPv4 packets (ForwDatagrams). Also: the host's node and the project's addon
 * (build/Release/pmt_native.node) load in the guest. Boot and node start-up times are printed
 * (TCG is slow; not asserted).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runInVm, vmSkipReason } from "../support/vm.js";

const skip = vmSkipReason();
const P = `p${process.pid}`;
const ADDON = join(process.cwd(), "build", "Release", "pmt_native.node");

/** A one-connection TCP listener: prints "listening", then "peer <address> <first line>". */
const LISTENER = `const net = require("net");
const [addr, port] = process.argv.slice(2);
const s = net.createServer((c) => {
  let d = "";
  c.on("data", (b) => {
    d += b;
    if (d.includes("\\n")) { console.log("peer " + c.remoteAddress + " " + d.trim()); c.end(); s.close(); }
  });
});
s.listen(Number(port), addr, () => console.log("listening"));`;

const SCRIPT = `
set -u
up() { cut -d' ' -f1 /proc/uptime; }
echo "T start $(up)"
node -e 0; echo "T node1 $(up)"
node -e 'require(process.argv[1]); console.log("ADDON ok " + process.version)' ${ADDON}
echo "T node2 $(up)"
for m in sit nft_nat nft_chain_nat veth; do
  modprobe $m && echo "MOD $m ok" || echo "MOD $m failed"
done
echo "T modules $(up)"
set -e
x() { n=$1; shift; ip netns exec ${P}-$n "$@"; }
# ip -batch: one process per namespace (every exec is slow under TCG)
ip -b - <<EOF
netns add ${P}-h1
netns add ${P}-a
netns add ${P}-c
netns add ${P}-b
netns add ${P}-h2
link add eth0 netns ${P}-h1 type veth peer name lan0 netns ${P}-a
link add wan0 netns ${P}-a type veth peer name ca0 netns ${P}-c
link add cb0 netns ${P}-c type veth peer name wan0 netns ${P}-b
link add lan0 netns ${P}-b type veth peer name eth0 netns ${P}-h2
EOF
ip -n ${P}-h1 -b - <<EOF
link set lo up
link set eth0 up
addr add 2001:db8:a::10/64 dev eth0 nodad
route add ::/0 via 2001:db8:a::1
EOF
ip -n ${P}-a -b - <<EOF
link set lo up
link set lan0 up
link set wan0 up
addr add 2001:db8:a::1/64 dev lan0 nodad
addr add 192.0.2.1/24 dev wan0
route add default via 192.0.2.254
tunnel add tun6to4 mode sit remote any local 192.0.2.1 ttl 64
link set tun6to4 up
addr add 2002:c000:201::1/16 dev tun6to4
EOF
ip -n ${P}-c -b - <<EOF
link set lo up
link set ca0 up
link set cb0 up
addr add 192.0.2.254/24 dev ca0
addr add 198.51.100.254/24 dev cb0
EOF
ip -n ${P}-b -b - <<EOF
link set lo up
link set lan0 up
link set wan0 up
addr add 198.51.100.1/24 dev wan0
route add default via 198.51.100.254
addr add 2002:c633:6401:1::1/64 dev lan0 nodad
tunnel add tun6to4 mode sit remote any local 198.51.100.1 ttl 64
link set tun6to4 up
addr add 2002:c633:6401::1/16 dev tun6to4
EOF
ip -n ${P}-h2 -b - <<EOF
link set lo up
link set eth0 up
addr add 2002:c633:6401:1::20/64 dev eth0 nodad
route add ::/0 via 2002:c633:6401:1::1
EOF
x a sysctl -qw net.ipv6.conf.all.forwarding=1
x c sysctl -qw net.ipv4.ip_forward=1
x b sysctl -qw net.ipv6.conf.all.forwarding=1
x a nft -f - <<'EOF'
table ip6 ${P}nat {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "tun6to4" ip6 saddr 2001:db8:a::/64 counter snat ip6 prefix to 2002:c000:201:1::/64
  }
  chain pre {
    type nat hook prerouting priority dstnat;
    iifname "tun6to4" ip6 daddr 2002:c000:201:1::/64 counter dnat ip6 prefix to 2001:db8:a::/64
  }
}
EOF
echo "T setup $(up)"
# the listeners start (slowly, under TCG) while the pings run
cat > /tmp/listen.js <<'EOF'
${LISTENER}
EOF
listen() { x $1 timeout 120 node /tmp/listen.js $2 $3 > /tmp/l-$1 2>&1 & }
ready() { i=0; while [ $i -lt 600 ] && ! grep -q listening /tmp/l-$1; do sleep 0.1; i=$((i+1)); done; }
listen h2 2002:c633:6401:1::20 8080; listen h1 2001:db8:a::10 8081
set +e
x h1 ping -c 3 -i 0.3 -W 10 2002:c633:6401:1::20 > /tmp/ping1; echo "PING h1-h2 $(grep -o '[0-9]* received' /tmp/ping1)"
x h2 ping -c 3 -i 0.3 -W 10 2002:c000:201:1::10 > /tmp/ping2; echo "PING h2-h1 $(grep -o '[0-9]* received' /tmp/ping2)"
echo "T ping $(up)"
ready h2; ready h1
echo "T listeners $(up)"
echo out-h1 | x h1 timeout 30 /.vm/busybox nc -w 10 2002:c633:6401:1::20 8080
echo in-h2 | x h2 timeout 30 /.vm/busybox nc -w 10 2002:c000:201:1::10 8081
wait
echo "TCP h2 $(grep peer /tmp/l-h2)"
echo "TCP h1 $(grep peer /tmp/l-h1)"
x a nft list table ip6 ${P}nat | sed -n 's/.*counter packets \\([0-9]*\\).*\\(snat\\|dnat\\).*/NFT \\2 \\1/p'
echo "FWD $(x c awk '/^Ip: [0-9]/ {print $7}' /proc/net/snmp)"
echo "T done $(up)"
`;

test(
  "kernel sit 6to4 + nft prefix NAT in a VM (Debian kernel, TCG)",
  { skip, timeout: 600_000 },
  async () => {
    assert.ok(existsSync(ADDON), `${ADDON} missing: build the addon first`);
    const r = await runInVm(SCRIPT, { timeoutMs: 480_000 });
    const diag = `\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- console\n${r.console.slice(-4000)}`;
    assert.equal(
      r.timedOut,
      false,
      `VM timed out (guest reached the script after ${r.guestBootS ?? "never"} s)${diag}`,
    );
    assert.equal(r.code, 0, `script exit code${diag}`);
    const line = (key: string) => r.stdout.match(new RegExp(`^${key} (.*)$`, "m"))?.[1];
    const t = (k: string) => Number(line(`T ${k}`));
    const d = (a: string, b: string) => `${(t(b) - t(a)).toFixed(1)} s`;
    console.log(
      `vm-sit: wall ${(r.wallMs / 1000).toFixed(1)} s, guest boot ${r.guestBootS} s; in the guest: ` +
        `node -e 0 ${d("start", "node1")}, node + addon ${d("node1", "node2")}, ` +
        `modprobe ${d("node2", "modules")}, setup ${d("modules", "setup")}, ` +
        `pings ${d("setup", "ping")}, TCP ${d("ping", "done")}`,
    );
    assert.match(line("ADDON") ?? "", /^ok v\d+/, `node + addon in the guest${diag}`);
    for (const m of ["sit", "nft_nat", "nft_chain_nat", "veth"]) {
      assert.equal(line(`MOD ${m}`), "ok", `modprobe ${m}${diag}`);
    }
    assert.equal(line("PING h1-h2"), "3 received", `h1 -> h2 through both sit tunnels${diag}`);
    assert.equal(line("PING h2-h1"), "3 received", `h2 -> h1's translated address (DNAT)${diag}`);
    // Host bits kept, prefix replaced: 2001:db8:a::10 appears as 2002:c000:201:1::10.
    assert.equal(line("TCP h2"), "peer 2002:c000:201:1::10 out-h1", `outbound TCP, SNAT${diag}`);
    assert.equal(line("TCP h1"), "peer 2002:c633:6401:1::20 in-h2", `inbound TCP, DNAT${diag}`);
    // The only way between the sites: IPv4 (protocol 41) through the carrier; 6 pings, 6 replies.
    assert.ok(Number(line("FWD")) >= 12, `carrier IPv4 ForwDatagrams${diag}`);
    const nft = (k: string) => Number(r.stdout.match(new RegExp(`^NFT ${k} (\\d+)$`, "m"))?.[1]);
    // NAT chains see the first packet of each connection: one ping flow and one TCP flow each way.
    assert.equal(nft("snat"), 2, `nft snat counter${diag}`);
    assert.equal(nft("dnat"), 2, `nft dnat counter${diag}`);
  },
);
