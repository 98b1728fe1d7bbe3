'use strict';
'require form';
'require network';
'require tools.widgets as widgets';

// LuCI protocol page for `proto xfrm` (served by xfrmd). The option list is
// generated from src/config/schema.ts by `npm run gen`, so LuCI offers exactly
// what the daemon validates; only the widget choice is written by hand here.
var OPTIONS = /* options:begin */[{"name":"ifid","group":"device","list":false,"flag":false,"range":{"min":1,"max":4294967295},"format":"1..4294967295, decimal or 0x-hex; required unless `external`","description":"XFRM interface id (if_id) that the IKE daemon puts on the SAs and policies of this tunnel."},{"name":"tunlink","group":"device","list":false,"flag":false,"format":"logical interface name, e.g. `wan`","description":"Parent given as a logical interface: the tunnel waits for it and binds to its L3 device."},{"name":"parent_device","group":"device","list":false,"flag":false,"format":"network device name, 1..15 characters; not together with `tunlink`","description":"Parent given as a network device (e.g. `eth1`), the NIC that carries the ESP packets."},{"name":"mtu","group":"device","list":false,"flag":false,"default":"1280","range":{"min":68,"max":65535},"format":"68..65535; at least 1280 when IPv6 is used","description":"MTU of the XFRM interface."},{"name":"zone","group":"device","list":false,"flag":false,"format":"firewall zone name","description":"Firewall zone the interface is added to."},{"name":"multicast","group":"device","list":false,"flag":true,"default":"1","format":"boolean: 1/0, true/false, yes/no, on/off","description":"Whether the interface has the MULTICAST flag (for routing protocols such as OSPF)."},{"name":"offload","group":"device","list":false,"flag":false,"default":"off","values":["off","crypto","packet"],"format":"`off`, `crypto` or `packet` (packet needs Linux 6.2); `crypto`/`packet` need `tunlink` or `parent_device`","description":"IPsec hardware offload wanted on the parent NIC, passed to the IKE daemon with the interface data."},{"name":"external","group":"device","list":false,"flag":true,"default":"0","format":"boolean; needs Linux 6.1; excludes `ifid`, parents and routing options","description":"Collect-metadata mode: one device per network namespace, the if_id comes from each route."},{"name":"ipaddr","group":"addresses","list":true,"flag":false,"format":"IPv4 `address[/length]` (default /32); several allowed","description":"IPv4 addresses of the XFRM interface itself."},{"name":"ip6addr","group":"addresses","list":true,"flag":false,"format":"IPv6 `address[/length]` (default /128); several allowed","description":"IPv6 addresses of the XFRM interface itself."},{"name":"route","group":"routing","list":true,"flag":false,"format":"`prefix[,metric=N][,mtu=N]`, e.g. `10.1.0.0/16,metric=5`","description":"IPv4 remote subnets routed into the tunnel; one equal to a subnet of the interface or a `source` is skipped."},{"name":"route6","group":"routing","list":true,"flag":false,"format":"`prefix[,metric=N][,mtu=N]`, e.g. `fd01::/64`","description":"IPv6 remote subnets routed into the tunnel, as `route`."},{"name":"ip4table","group":"routing","list":false,"flag":false,"format":"table number 1..4294967295, `main` or `default` (`local` is refused); default: `main` without rules, else 10000+ifid","description":"Routing table for the IPv4 routes of this interface."},{"name":"ip6table","group":"routing","list":false,"flag":false,"format":"as `ip4table`","description":"Routing table for the IPv6 routes of this interface."},{"name":"full_tunnel","group":"routing","list":false,"flag":true,"default":"0","format":"boolean; needs `exempt_mark` and a table other than `main`","description":"Full tunnel: a default route into the table (src = the first address) and rules that send all other traffic there."},{"name":"rule_priority","group":"routing","list":false,"flag":false,"default":"100","range":{"min":2,"max":32763},"format":"2..32763; rules use base-1 … base+2","description":"Base priority of the policy rules of this interface."},{"name":"rule_style","group":"routing","list":false,"flag":false,"default":"exempt","values":["exempt","invert"],"format":"`exempt` (separate `fwmark … lookup main` rule) or `invert` (`not fwmark` on each rule)","description":"How ESP/IKE packets carrying `exempt_mark` are kept out of the tunnel table."},{"name":"exempt_mark","group":"routing","list":false,"flag":false,"format":"`value[/mask]`, decimal or 0x-hex, mask default 0xffffffff","description":"Firewall mark of the encrypted packets (the SA output mark), which must keep using the main table."},{"name":"mark","group":"routing","list":true,"flag":false,"format":"`value[/mask]`, as `exempt_mark`","description":"Firewall marks whose traffic is routed through this interface's table (e.g. per-upstream CONNMARK)."},{"name":"source","group":"routing","list":true,"flag":false,"format":"`src-prefix` or `src-prefix>dst-prefix`, e.g. `192.168.5.0/24>10.0.0.0/8`","description":"Traffic from these sources (optionally to a destination) uses this interface's table."}]/* options:end */;

function validator(o) {
	return function(section_id, value) {
		if (value == null || value === '')
			return true;
		if (o.range) {
			var n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : (/^[0-9]+$/.test(value) ? parseInt(value, 10) : NaN);
			if (isNaN(n) || n < o.range.min || n > o.range.max)
				return _('Expecting %s').format(o.format);
		}
		return true;
	};
}

return network.registerProtocol('xfrm', {
	getI18n: function() {
		return _('XFRM interface (route-based IPsec)');
	},

	getIfname: function() {
		return this._ubus('l3_device') || this.sid;
	},

	getOpkgPackage: function() {
		return 'xfrmd';
	},

	isFloating: function() {
		return true;
	},

	isVirtual: function() {
		return true;
	},

	getDevices: function() {
		return null;
	},

	containsDevice: function(ifname) {
		return (network.getIfnameOf(this.getIfname()) == ifname);
	},

	renderFormOptions: function(s) {
		OPTIONS.forEach(function(o) {
			var tab = (o.group == 'routing') ? 'advanced' : 'general';
			var title = o.name;
			var opt;

			if (o.name == 'tunlink') {
				opt = s.taboption(tab, widgets.NetworkSelect, o.name, title);
				opt.exclude = s.section;
				opt.nocreate = true;
			}
			else if (o.name == 'parent_device') {
				opt = s.taboption(tab, widgets.DeviceSelect, o.name, title);
				opt.noaliases = true;
			}
			else if (o.flag) {
				opt = s.taboption(tab, form.Flag, o.name, title);
				opt.default = (o.default == '1') ? opt.enabled : opt.disabled;
			}
			else if (o.values) {
				opt = s.taboption(tab, form.ListValue, o.name, title);
				o.values.forEach(function(v) { opt.value(v); });
				if (o.default != null)
					opt.default = o.default;
			}
			else if (o.list) {
				opt = s.taboption(tab, form.DynamicList, o.name, title);
			}
			else {
				opt = s.taboption(tab, form.Value, o.name, title);
				if (o.default != null)
					opt.placeholder = o.default;
				opt.validate = validator(o);
			}

			opt.description = o.description + ' (' + o.format.replace(/`/g, '') + ')';
			opt.rmempty = (o.name != 'ifid');
			opt.optional = (o.group == 'routing');
		});
	}
});
