# STAND-IN for OpenWrt's /lib/netifd/netifd-proto.sh (not its code): each call the 6to4-pmt
# netifd hook makes is recorded as one line in $NETIFD_LOG.
_nrec() { printf '%s\n' "$*" >> "$NETIFD_LOG"; }
proto_init_update() { _nrec "init_update $*"; }
proto_add_ipv6_prefix() { _nrec "add_ipv6_prefix $*"; }
proto_add_ipv6_address() { _nrec "add_ipv6_address $*"; }
proto_add_ipv6_route() { _nrec "add_ipv6_route $*"; }
proto_add_data() { _nrec "add_data"; }
proto_close_data() { _nrec "close_data"; }
json_add_string() { _nrec "json_add_string $*"; }
proto_send_update() { _nrec "send_update $*"; }
