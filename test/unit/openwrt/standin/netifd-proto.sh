# STAND-IN for OpenWrt's /lib/netifd/netifd-proto.sh (not its code): each call the 6to4-pmt
# netifd hook makes is recorded as one line in $NETIFD_LOG.
#
# It also models what netifd does with the update, as observed on OpenWrt: a device handed over
# WITHOUT the external flag (`proto_init_update <dev> 1`, no 3rd argument 1) is claimed by netifd,
# which on `ifup`, a network restart or a racy first start sets it down and flushes its addresses
# and routes; an external device (`proto_init_update <dev> 1 1`) is left alone. The claim is
# recorded as "claim <dev>: down, addresses and routes flushed"; with NETIFD_APPLY=1 it is also
# carried out with `ip` (tests run the hook as root inside their own namespace). An update for an
# interface /etc/config/network does not define fails with "(Not found)", exit 252, as there.
_nrec() { printf '%s\n' "$*" >> "$NETIFD_LOG"; }
proto_init_update() {
	_nrec "init_update $*"
	_N_DEV="$1"
	_N_EXTERNAL="${3:-0}"
}
proto_add_ipv6_prefix() { _nrec "add_ipv6_prefix $*"; }
proto_add_ipv6_address() { _nrec "add_ipv6_address $*"; }
proto_add_ipv6_route() { _nrec "add_ipv6_route $*"; }
proto_add_data() { _nrec "add_data"; }
proto_close_data() { _nrec "close_data"; }
json_add_string() { _nrec "json_add_string $*"; }
proto_send_update() {
	_nrec "send_update $*"
	# netifd has the interface only while /etc/config/network defines it (after a reload); an
	# update for one it does not have fails as `ubus call network.interface notify_proto` does.
	if [ -z "$(uci -q get "network.$1")" ]; then
		echo "Command failed: ubus call network.interface notify_proto { \"interface\": \"$1\" } (Not found)" >&2
		return 252
	fi
	[ -n "$_N_DEV" ] && [ "$_N_EXTERNAL" != 1 ] || return 0
	_nrec "claim $_N_DEV: down, addresses and routes flushed"
	[ "$NETIFD_APPLY" = 1 ] || return 0
	ip link set dev "$_N_DEV" down
	ip addr flush dev "$_N_DEV"
	ip -6 route flush dev "$_N_DEV"
	ip -4 route flush dev "$_N_DEV"
}
