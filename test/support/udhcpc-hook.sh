#!/bin/sh
# busybox udhcpc script for the 6to4-pmt CPE (udhcpc -s <this> -O ip6rd ...).
#
# 1. Configures the leased IPv4 address on $interface (as udhcpc's default.script does), so the
#    daemon's WAN watcher sees the address change (RFC 3056 §2: the 6to4 prefix follows V4ADDR).
# 2. Hands DHCPv4 option 212, OPTION_6RD (RFC 5969 §7.1.1), to the daemon: udhcpc decodes it into
#    $ip6rd = "IPv4MaskLen 6rdPrefixLen 6rdPrefix BR..." and we write it to a key=value lease file,
#    atomically (temp file + mv), which the daemon follows (module/control/dhcp-6rd.ts).
#
# Environment: PMT_DHCP_FILE (default /var/run/6to4-pmt.dhcp); PMT_DHCP_CONFIGURE=0 to leave the
# interface alone (netifd does it on OpenWrt).
out="${PMT_DHCP_FILE:-/var/run/6to4-pmt.dhcp}"
configure="${PMT_DHCP_CONFIGURE:-1}"

write_lease() {
	tmp="$out.tmp.$$"
	{
		echo "interface=${interface:-}"
		echo "ip=${ip:-}"
		echo "mask=${mask:-}"
		echo "ip6rd=${ip6rd:-}"
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
	if [ "$configure" = 1 ]; then
		if ! ip -4 -o addr show dev "$interface" | grep -q " inet $ip/"; then
			ip -4 addr flush dev "$interface"
			ip -4 addr add "$ip/${mask:-32}" dev "$interface"
		fi
		if [ -n "${router:-}" ]; then
			set -- $router
			ip -4 route replace default via "$1" dev "$interface"
		fi
	fi
	write_lease
	;;
esac
exit 0
