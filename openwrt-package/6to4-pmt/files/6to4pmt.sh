#!/bin/sh
# netifd protocol "6to4pmt" for the interface /etc/uci-defaults/60_6to4-pmt creates:
#
#   config interface '6to4pmt'
#   	option proto '6to4pmt'
#   	option zone 'wan'
#
# It does not create the tunnel (the 6to4-pmt daemon owns its TUN device); it tells netifd
#  - that the tunnel device belongs to firewall zone `zone` (fw4 reads interface data "zone"),
#    so forwarding LAN -> tunnel works without manual firewall steps;
#  - the LAN prefix the daemon publishes (ra 'netifd'), as a delegated prefix: netifd assigns it
#    to interfaces with ip6assign and odhcpd advertises it (RFC 4861 §6.2, lifetimes RFC 9096).
# The daemon publishes through /usr/lib/6to4-pmt/netifd-prefix; setup replays its last update.

[ -n "$INCLUDE_ONLY" ] || {
	. /lib/functions.sh
	. ../netifd-proto.sh
	init_proto "$@"
}

proto_6to4pmt_init_config() {
	no_device=1
	available=1
	proto_config_add_string "zone"
}

proto_6to4pmt_setup() {
	local cfg="$1"
	local zone
	json_get_vars zone
	/usr/lib/6to4-pmt/netifd-prefix setup "$cfg" "${zone:-wan}"
}

proto_6to4pmt_teardown() {
	local cfg="$1"
	return 0
}

[ -n "$INCLUDE_ONLY" ] || add_protocol 6to4pmt
