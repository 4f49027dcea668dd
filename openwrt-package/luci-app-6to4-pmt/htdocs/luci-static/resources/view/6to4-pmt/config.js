'use strict';
'require view';
'require form';
'require rpc';
'require poll';

// 6to4-pmt (RFC 6732) settings and status. Options, datatypes and placeholders follow the daemon's
// option table (module/config/schema.ts); test/unit/openwrt/luci-schema.test.ts keeps them equal.

var callStatus = rpc.declare({
	object: 'luci.6to4-pmt',
	method: 'status',
	expect: { '': {} }
});

function statusRows(st) {
	var rows = [];
	var add = function(label, value) {
		if (value != null && value !== '')
			rows.push([ label, String(value) ]);
	};
	var sourced = function(v) {
		if (v == null || v.value == null || (Array.isArray(v.value) && !v.value.length))
			return null;
		return (Array.isArray(v.value) ? v.value.join(', ') : v.value) + (v.source ? ' (' + v.source + ')' : '');
	};

	add(_('State'), st.state + (st.stateReason ? ': ' + st.stateReason : ''));
	add(_('Mode'), st.translatedPrefix ? _('6to4-PMT (translated provider prefix)') : _('Plain 6to4'));
	if (st.wan)
		add(_('WAN IPv4'), st.wan.ipv4 ? st.wan.ipv4 + (st.wan.ipv4Class ? ' (' + st.wan.ipv4Class + ')' : '') : null);
	add(_('6to4 prefix'), st.sixto4Prefix);
	add(_('LAN prefix'), st.lanPrefix);
	add(_('Translated prefix'), st.translatedPrefix);
	add(_('Provider prefix'), sourced(st.providerPrefix));
	add(_('Relays'), sourced(st.relays));
	add(_('Relay in use'), st.relayInUse);
	add(_('Tunnel MTU'), st.tunnelMtu);
	if (st.dataplane)
		add(_('Data plane'), st.dataplane.mode + ' (' + st.dataplane.reason + ')' + (st.dataplane.error ? '; ' + _('error: %s').format(st.dataplane.error) : ''));
	if (st.wanSend)
		add(_('WAN send path'), (st.wanSend.active == 'packet' ? _('AF_PACKET') : _('Raw socket')) + (st.wanSend.nextHop ? ' ' + _('via %s (%s) on %s').format(st.wanSend.nextHop.gateway, st.wanSend.nextHop.lladdr, st.wanSend.nextHop.device) : '') + ' (' + st.wanSend.reason + '); ' + _('%d fallbacks').format(st.wanSend.fallbacks));
	if (st.health)
		add(_('Tunnel health'), st.health.state + ' (' + _('%d consecutive failures').format(st.health.consecutiveFailures || 0) +
			(st.health.lastRttMs != null ? ', ' + _('round trip %s ms').format(st.health.lastRttMs.toFixed(2)) : '') + ')');
	if (st.ra)
		add(_('Prefix advertisement'), st.ra.mode + (st.ra.lastSent ? ', ' + _('last RA %s').format(st.ra.lastSent) : ''));
	if (st.counters) {
		var names = Object.keys(st.counters).filter(function(k) { return st.counters[k] > 0; }).sort();
		add(_('Counters'), names.map(function(k) { return k + ': ' + st.counters[k]; }).join(', '));
	}
	add(_('Version'), st.version);
	return rows;
}

function renderStatus(reply) {
	if (!reply || !reply.running)
		return E('p', { 'class': 'pmt-not-running' }, [
			E('em', {}, [ document.createTextNode(_('Not running')) ]),
			document.createTextNode(reply && reply.error ? ' – ' + reply.error : '')
		]);

	return E('table', { 'class': 'table' }, statusRows(reply.status || {}).map(function(r) {
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td left', 'width': '33%' }, [ document.createTextNode(r[0]) ]),
			E('td', { 'class': 'td left' }, [ document.createTextNode(r[1]) ])
		]);
	}));
}

return view.extend({
	load: function() {
		return callStatus().catch(function(e) {
			return { running: false, error: String(e) };
		});
	},

	render: function(statusReply) {
		var m, s, o;

		m = new form.Map('6to4-pmt', _('6to4-PMT'),
			_('6to4 Provider Managed Tunnels (RFC 6732): IPv6 over the IPv4 WAN through the operator\'s relay, which translates the 6to4 prefix into a provider prefix. 6to4 is Historic (RFC 7526): keep it off unless your provider runs a PMT relay.'));

		s = m.section(form.TypedSection, '_status', _('Status'));
		s.anonymous = true;
		s.render = function() {
			var box = E('div', { 'id': 'pmt-status', 'class': 'cbi-section' }, [
				E('h3', {}, _('Status')),
				E('div', { 'class': 'pmt-status-body' }, renderStatus(statusReply))
			]);
			poll.add(function() {
				return callStatus().then(function(reply) {
					var body = box.querySelector('.pmt-status-body');
					while (body.firstChild)
						body.removeChild(body.firstChild);
					body.appendChild(renderStatus(reply));
				});
			}, 10);
			return box;
		};

		s = m.section(form.NamedSection, 'cpe', 'cpe', _('CPE'));
		s.anonymous = true;
		s.addremove = false;
		s.tab('general', _('General Settings'));
		s.tab('ra', _('LAN prefix advertisement'));
		s.tab('advanced', _('Advanced Settings'));

		o = s.taboption('general', form.Flag, 'enabled', _('Enable'),
			_('Off by default: 6to4 is Historic (RFC 7526 §5).'));
		o.rmempty = false;
		o.default = '0';

		o = s.taboption('general', form.ListValue, 'ra', _('Mode'),
			_('Who advertises the LAN prefix: netifd hands it to odhcpd (recommended on OpenWrt), the built-in RA sender (RFC 4861), or nobody.'));
		o.value('netifd', _('netifd / odhcpd'));
		o.value('builtin', _('Built-in RA sender'));
		o.value('off', _('Off'));
		o.default = 'netifd';

		o = s.taboption('general', form.Value, 'wan_interface', _('WAN interface'),
			_('Logical interface whose IPv4 address forms the 6to4 prefix (RFC 3056 §2).'));
		o.datatype = 'maxlength(15)';
		o.placeholder = 'wan';

		o = s.taboption('general', form.DynamicList, 'relay', _('Relay'),
			_('IPv4 address of the 6to4 PMT relay; 192.88.99.1 is the 6to4 anycast address (RFC 3068).'));
		o.datatype = 'ip4addr';
		o.placeholder = '192.88.99.1';

		o = s.taboption('general', form.Value, 'provider_prefix', _('Provider prefix'),
			_('P/L with 16 ≤ L ≤ 32 that the relay translates the 6to4 prefix to (RFC 6732 §3.3); empty for plain 6to4 or to learn it from DHCPv4 option 212.'));
		o.datatype = 'cidr6';
		o.placeholder = 'none, or DHCPv4 option 212';

		o = s.taboption('general', form.Value, 'ipv4_prefix_len', _('IPv4 common prefix length'),
			_('Leading IPv4 bits left out of the mapping, as 6rd IPv4MaskLen (RFC 5969 §7.1.1).'));
		o.datatype = 'range(0,32)';
		o.placeholder = '0';

		o = s.taboption('general', form.Value, 'sla', _('SLA'),
			_('The 6to4 subnet (SLA) that is translated (RFC 6732 §3.3).'));
		o.datatype = 'range(0,65535)';
		o.placeholder = '0';

		o = s.taboption('general', form.Value, 'tunnel_mtu', _('Tunnel MTU'),
			_('IPv6 MTU of the tunnel (RFC 4213 §3.2).'));
		o.datatype = 'range(1280,65515)';
		o.placeholder = 'wan_mtu − 20';

		o = s.taboption('general', form.Flag, 'use_dhcp_6rd', _('Use DHCPv4 option 212'),
			_('Take relay, provider prefix and IPv4 prefix length from the WAN\'s DHCP lease (RFC 5969 §7.1.1).'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('ra', form.Value, 'ra_preferred_lifetime', _('Preferred lifetime'),
			_('Seconds; at most 2700 (RFC 9096).'));
		o.datatype = 'range(0,2700)';
		o.placeholder = '2700';

		o = s.taboption('ra', form.Value, 'ra_valid_lifetime', _('Valid lifetime'),
			_('Seconds; at most 5400 (RFC 9096).'));
		o.datatype = 'range(0,5400)';
		o.placeholder = '5400';

		o = s.taboption('ra', form.Value, 'ra_min_interval', _('Minimum RA interval'),
			_('Seconds (RFC 4861 §6.2.1).'));
		o.datatype = 'range(3,1350)';
		o.placeholder = '200';
		o.depends('ra', 'builtin');

		o = s.taboption('ra', form.Value, 'ra_max_interval', _('Maximum RA interval'),
			_('Seconds (RFC 4861 §6.2.1).'));
		o.datatype = 'range(4,1800)';
		o.placeholder = '600';
		o.depends('ra', 'builtin');

		o = s.taboption('ra', form.Value, 'ra_router_lifetime', _('Router lifetime'),
			_('Seconds; sent as 0 while the tunnel is down (RFC 7084 L-4).'));
		o.datatype = 'range(0,9000)';
		o.placeholder = '1800';
		o.depends('ra', 'builtin');

		o = s.taboption('ra', form.ListValue, 'ra_preference', _('Router preference'),
			_('RFC 4191 §2.2.'));
		o.value('low', _('Low'));
		o.value('medium', _('Medium'));
		o.value('high', _('High'));
		o.default = 'medium';
		o.depends('ra', 'builtin');

		o = s.taboption('ra', form.DynamicList, 'dns', _('DNS servers'),
			_('Announced in RAs as RDNSS (RFC 8106).'));
		o.datatype = 'ip6addr';
		o.placeholder = '';
		o.depends('ra', 'builtin');

		o = s.taboption('ra', form.DynamicList, 'domain', _('Search domains'),
			_('Announced in RAs as DNSSL (RFC 8106).'));
		o.datatype = 'hostname';
		o.placeholder = '';
		o.depends('ra', 'builtin');

		o = s.taboption('advanced', form.Value, 'wan_mtu', _('WAN MTU'),
			_('Overrides the learned WAN MTU.'));
		o.datatype = 'range(1280,65535)';
		o.placeholder = 'learned, else 1500';

		o = s.taboption('advanced', form.Flag, 'direct_6to4', _('Direct 6to4'),
			_('Send to 2002::/16 destinations straight to their embedded IPv4 address (RFC 3056 §5.3).'));
		o.rmempty = false;
		o.default = '1';

		o = s.taboption('advanced', form.DynamicList, 'allow_ipv4', _('Accepted IPv4 ranges'),
			_('Extra IPv4 ranges accepted as 6to4 peers, e.g. 100.64.0.0/10 (RFC 3964 §5.3.1).'));
		o.datatype = 'cidr4';
		o.placeholder = '';

		o = s.taboption('advanced', form.ListValue, 'wan_gro', _('WAN GRO that merges tunnelled UDP'),
			_('Fraglist GRO (on for every device since OpenWrt 24.10) and UDP-forwarding GRO on the WAN device (and on the device it runs on, e.g. eth0 under eth0.2) merge the UDP inside 6to4 packets from relays that send with a fixed IPv4 ID, and LAN hosts then get none of it (QUIC, games, VPNs). Automatic turns them off once that is seen; Off turns them off at start; Keep leaves them and logs a warning. They are turned back on when the service stops.'));
		o.value('auto', _('Automatic'));
		o.value('off', _('Off'));
		o.value('keep', _('Keep'));
		o.default = 'auto';

		o = s.taboption('advanced', form.ListValue, 'dataplane', _('Data plane'),
			_('Kernel: a sit tunnel and an nftables table of its own do the forwarding, the prefix translation and the RFC 3964 checks; the service only controls them (needs kmod-sit). Userspace: the service forwards over a TUN. Automatic: kernel when the kernel offers sit and nftables prefix NAT, else userspace.'));
		o.value('auto', _('Automatic'));
		o.value('kernel', _('Kernel (sit + nftables)'));
		o.value('userspace', _('Userspace (TUN)'));
		o.default = 'auto';

		o = s.taboption('advanced', form.ListValue, 'wan_send', _('WAN send path'),
			_('How the userspace data plane sends 6to4 packets to the relay. Raw socket: the kernel routes each packet, resolves ARP and runs the firewall\'s output rules. AF_PACKET: straight to the gateway\'s MAC address, which the service looks up in the routing and neighbour tables every few seconds; less CPU per packet, but firewall output rules and counters do not see these packets and policy routing (mwan3) is followed only when looked up.'));
		o.value('raw', _('Raw socket'));
		o.value('packet', _('AF_PACKET'));
		o.default = 'raw';
		o.depends('dataplane', 'userspace');
		o.depends('dataplane', 'auto');

		o = s.taboption('advanced', form.Value, 'health_target', _('Health probe target'),
			_('IPv6 address probed through the relay (RFC 6343 §4.4).'));
		o.datatype = 'ip6addr';
		o.placeholder = 'the relay\'s 6to4 address';

		o = s.taboption('advanced', form.Value, 'health_interval', _('Health probe interval'),
			_('Seconds between probes.'));
		o.datatype = 'range(1,3600)';
		o.placeholder = '5';

		o = s.taboption('advanced', form.Value, 'health_failures', _('Failed probes before withdrawal'),
			_('The default route is withdrawn after this many failed probes in a row (RFC 7084 L-4).'));
		o.datatype = 'range(1,100)';
		o.placeholder = '3';

		o = s.taboption('advanced', form.ListValue, 'log_level', _('Log level'));
		o.value('error', _('Error'));
		o.value('warn', _('Warning'));
		o.value('info', _('Info'));
		o.value('debug', _('Debug'));
		o.default = 'info';

		return m.render();
	}
});
