/**
 * The carrier's DHCPv4 in `6to4-pmt lab` (and the integration tests): dnsmasq (Debian
 * dnsmasq-base) in the isp namespace hands the CPE its WAN address in 100.64.0.0/10 and
 * OPTION_6RD (212, RFC 5969 §7.1.1); busybox udhcpc (the client OpenWrt uses) runs on the CPE's
 * WAN with UDHCPC_SCRIPT, which configures the address and hands the lease to the daemon through
 * the lease file it follows (control/dhcp-6rd.ts; the OpenWrt package's udhcpc hook writes the
 * same file).
 */
import { parseIpv4 } from "../addr/ipv4.js";
import { parseIpv6 } from "../addr/ipv6.js";
import { encode, encodingLength, type SixRdOption } from "../codec/dhcp-6rd-option.js";

/**
 * busybox udhcpc script (`udhcpc -s <file> -O 212`):
 * 1. hands option 212 to the daemon: udhcpc decodes it into $ip6rd = "IPv4MaskLen 6rdPrefixLen
 *    6rdPrefix BR..." and the script writes a key=value lease file atomically (temp file + mv), as
 *    the OpenWrt package's hook (/etc/udhcpc.user.d/6to4-pmt) does. serverid, router and lease are
 *    extra keys the daemon ignores (the lab prints them);
 * 2. then configures the leased IPv4 address and default route on $interface (as netifd does on
 *    OpenWrt), so the daemon's WAN watcher sees the address change (RFC 3056 §2: the 6to4 prefix
 *    follows V4ADDR). In this order a shared-space address (RFC 6598) arrives when the daemon
 *    already knows the operator's relay, and is not refused for a moment (RFC 6732 §4.2).
 * Environment: PMT_DHCP_FILE (default /var/run/6to4-pmt.dhcp); PMT_DHCP_CONFIGURE=0 leaves the
 * interface alone.
 */
export const UDHCPC_SCRIPT = `#!/bin/sh
out="\${PMT_DHCP_FILE:-/var/run/6to4-pmt.dhcp}"
configure="\${PMT_DHCP_CONFIGURE:-1}"

write_lease() {
	tmp="$out.tmp.$$"
	{
		echo "interface=\${interface:-}"
		echo "ip=\${ip:-}"
		echo "mask=\${mask:-}"
		echo "ip6rd=\${ip6rd:-}"
		echo "serverid=\${serverid:-}"
		echo "router=\${router:-}"
		echo "lease=\${lease:-}"
	} >"$tmp" && mv -f "$tmp" "$out"
}

case "$1" in
deconfig)
	[ "$configure" = 1 ] && {
		ip -4 addr flush dev "$interface" 2>/dev/null
		ip link set dev "$interface" up
	}
	rm -f "$out"
	;;
bound | renew)
	write_lease
	if [ "$configure" = 1 ]; then
		if ! ip -4 -o addr show dev "$interface" | grep -q " inet $ip/"; then
			ip -4 addr flush dev "$interface"
			ip -4 addr add "$ip/\${mask:-32}" dev "$interface"
		fi
		if [ -n "\${router:-}" ]; then
			set -- $router
			ip -4 route replace default via "$1" dev "$interface"
		fi
	fi
	;;
esac
exit 0
`;

/** OPTION_6RD's fields in text form. */
export interface SixRdText {
  ipv4MaskLen: number;
  /** 6rdPrefix/6rdPrefixLen, e.g. "2001:db8::/32". */
  prefix: string;
  /** BR IPv4 addresses. */
  relays: readonly string[];
}

/**
 * The option's payload (after code and length) as dnsmasq's `--dhcp-option-force=212,<hex>`
 * wants it: "00:20:20:01:0d:b8:...:c0:58:63:01". @throws RangeError on a bad value
 */
export function option212Hex(o: SixRdText): string {
  const [addrText, lenText] = o.prefix.split("/");
  const addr = parseIpv6(addrText ?? "");
  if (addr === null || lenText === undefined || !/^\d{1,3}$/.test(lenText)) {
    throw new RangeError(`OPTION_6RD: bad 6rdPrefix ${o.prefix}`);
  }
  const brAddresses = o.relays.map((r) => {
    const n = parseIpv4(r);
    if (n === null) throw new RangeError(`OPTION_6RD: bad BR address ${r}`);
    return n;
  });
  const v: SixRdOption = {
    ipv4MaskLen: o.ipv4MaskLen,
    sixrdPrefixLen: Number(lenText),
    sixrdPrefix: addr,
    brAddresses,
  };
  const buf = Buffer.alloc(encodingLength(v));
  encode(v, buf);
  return [...buf.subarray(2)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export interface DnsmasqSpec {
  /** The isp-side device of the CPE's WAN link. */
  device: string;
  /** The one address handed out (a fixed lease keeps the lab's output the same every run). */
  address: string;
  /** Its prefix length (the link's). */
  prefixLen: number;
  /** Default gateway (option 3). */
  router: string;
  leaseSeconds: number;
  option212: SixRdText;
  /** Where the lease and pid files go. */
  dir: string;
}

/** dnsmasq as a DHCPv4 server only (port 0: no DNS), in the foreground, logging each exchange. */
export function dnsmasqArgs(s: DnsmasqSpec): string[] {
  const mask = (0xffffffff << (32 - s.prefixLen)) >>> 0;
  const maskText = [24, 16, 8, 0].map((b) => (mask >>> b) & 0xff).join(".");
  return [
    "dnsmasq",
    "--keep-in-foreground",
    "--log-facility=-",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--no-ping",
    "--port=0",
    `--interface=${s.device}`,
    "--bind-interfaces",
    "--dhcp-authoritative",
    `--dhcp-range=${s.address},${s.address},${maskText},${s.leaseSeconds}`,
    `--dhcp-option=3,${s.router}`,
    `--dhcp-option-force=212,${option212Hex(s.option212)}`,
    `--dhcp-leasefile=${s.dir}/dnsmasq.leases`,
    `--pid-file=${s.dir}/dnsmasq.pid`,
    "--log-dhcp",
  ];
}

/** busybox udhcpc on `device` in the foreground, asking for option 212, with `script`. */
export function udhcpcArgs(device: string, script: string): string[] {
  return [
    "busybox",
    "udhcpc",
    "-f",
    "-i",
    device,
    "-s",
    script,
    "-O",
    "212",
    "-t",
    "10",
    "-T",
    "1",
  ];
}

/** The lease file's key=value lines (UDHCPC_SCRIPT, or the OpenWrt hook's). */
export function parseLeaseLines(text: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return kv;
}
