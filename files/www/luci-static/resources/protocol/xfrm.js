'use strict';
'require dom';
'require form';
'require network';
'require rpc';
'require uci';
'require ui';
'require tools.widgets as widgets';

// LuCI protocol page for `proto xfrm` (served by xfrmd).
//
// Generated parts (npm run gen, from src/config): the option list, every
// option's title and help (in _() calls, so LuCI's i18n scanner and
// po/templates/xfrm.pot see them) and the field checks, which are the daemon's
// own validator bundled for the browser. Written here by hand: which widget an
// option gets, what hides in collect-metadata mode, and the status view.
//
// Generic interface options: LuCI's Interfaces dialog replaces options named
// like netifd's generic ones (defaultroute, metric, dns, ip4table, ip6table, …)
// after renderFormOptions(). None of ours is named like them except ip4table
// and ip6table, which mean what netifd means (the table of this interface's
// routes); LuCI's own fields for them stay and get the daemon's checks. The
// firewall zone is the dialog's Firewall tab's.

var OPTIONS = /* options:begin */[{"name":"ifid","group":"device","list":false,"flag":false,"example":"5"},{"name":"tunlink","group":"device","list":false,"flag":false},{"name":"parent_device","group":"device","list":false,"flag":false,"example":"eth1"},{"name":"mtu","group":"device","list":false,"flag":false,"default":"1280","example":"1280"},{"name":"zone","group":"device","list":false,"flag":false,"example":"vpn"},{"name":"multicast","group":"device","list":false,"flag":true,"default":"1"},{"name":"offload","group":"device","list":false,"flag":false,"default":"off","values":["off","crypto","packet"]},{"name":"external","group":"device","list":false,"flag":true,"default":"0"},{"name":"ipaddr","group":"addresses","list":true,"flag":false,"example":"10.9.0.2/32"},{"name":"ip6addr","group":"addresses","list":true,"flag":false,"example":"fd00:9::2/64"},{"name":"route","group":"routing","list":true,"flag":false,"example":"10.1.0.0/16"},{"name":"route6","group":"routing","list":true,"flag":false,"example":"fd01::/64"},{"name":"ip4table","group":"routing","list":false,"flag":false},{"name":"ip6table","group":"routing","list":false,"flag":false},{"name":"full_tunnel","group":"routing","list":false,"flag":true,"default":"0"},{"name":"rule_priority","group":"routing","list":false,"flag":false,"default":"100","example":"100"},{"name":"rule_style","group":"routing","list":false,"flag":false,"default":"exempt","values":["exempt","invert"]},{"name":"exempt_mark","group":"routing","list":false,"flag":false,"example":"0x6"},{"name":"mark","group":"routing","list":true,"flag":false,"example":"0x100/0xff00"},{"name":"source","group":"routing","list":true,"flag":false,"example":"192.168.5.0/24>10.0.0.0/8"}]/* options:end */;

function optionTexts() {
	return /* texts:begin */{
		ifid: [ _('XFRM interface ID'), _('The if_id the IKE daemon puts on this tunnel\'s SAs and policies (strongSwan: if_id_in and if_id_out).') ],
		tunlink: [ _('Parent interface'), _('Logical interface whose device carries the encrypted packets, such as wan. The tunnel waits for it and follows its device, across PPPoE reconnects too.') ],
		parent_device: [ _('Parent device'), _('Network device that carries the encrypted packets, for when no logical interface stands for it. Set either this or the parent interface.') ],
		mtu: [ _('MTU'), _('Largest packet the tunnel device accepts before encryption. IPv6 needs at least 1280.') ],
		zone: [ _('Firewall zone'), _('Firewall zone the interface is added to while it is up.') ],
		multicast: [ _('Multicast'), _('Lets the tunnel device carry multicast, for routing protocols such as OSPF.') ],
		offload: [ _('Hardware offload'), _('IPsec offload wanted on the parent\'s network card. xfrmd checks that the card supports it; the IKE daemon enables it on the SAs. Needs a parent.') ],
		external: [ _('Collect-metadata mode'), _('One tunnel device for the whole system that takes the if_id from each route (collect-metadata mode, Linux 6.1 or later). It has no interface ID, parent or routing options of its own.') ],
		ipaddr: [ _('IPv4 addresses'), _('Addresses of the tunnel device itself. Without a prefix length an address is a single host.') ],
		ip6addr: [ _('IPv6 addresses'), _('Addresses of the tunnel device itself. Without a prefix length an address is a single host.') ],
		route: [ _('IPv4 routes'), _('Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.') ],
		route6: [ _('IPv6 routes'), _('Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.') ],
		ip4table: [ _('IPv4 routing table'), _('Table for this interface\'s IPv4 routes. Left empty, routes go into main until rules are needed, then into table 10000 plus the interface ID.') ],
		ip6table: [ _('IPv6 routing table'), _('Table for this interface\'s IPv6 routes, chosen like the IPv4 one.') ],
		full_tunnel: [ _('Route all traffic through the tunnel'), _('Adds a default route to the tunnel\'s table and rules that send all other traffic there. Needs the ESP packet mark, and a table other than main.') ],
		rule_priority: [ _('Rule priority'), _('Base priority of this interface\'s policy rules; they use the base minus one up to the base plus two.') ],
		rule_style: [ _('ESP exemption'), _('How encrypted packets carrying the ESP packet mark are kept out of the tunnel\'s table.') ],
		exempt_mark: [ _('ESP packet mark'), _('Firewall mark that the SAs put on the encrypted packets (their output mark, set_mark_out in swanctl.conf), so that these keep using the main table.') ],
		mark: [ _('Routed marks'), _('Traffic carrying one of these firewall marks uses this interface\'s table, for example a CONNMARK per uplink.') ],
		source: [ _('Source rules'), _('Traffic from these source subnets uses this interface\'s table; add >destination to match only traffic to that subnet.') ]
	}/* texts:end */;
}

var xfrmdForm = null;

// the daemon's checks (bundled below); evaluated on first use
function checks() {
	return xfrmdForm || (xfrmdForm = xfrmdValidator());
}

var callStatus = rpc.declare({
	object: 'xfrmd',
	method: 'status',
	params: [ 'interface' ],
	expect: { '': {} }
});

// options LuCI's dialog owns (it replaces them after renderFormOptions) or that
// another tab owns; we add our checks and help to the dialog's own fields
var GENERIC = { ip4table: true, ip6table: true };
var FIREWALL_TAB = { zone: true };
var ADVANCED = { mtu: true, multicast: true, offload: true };
// what collect-metadata (external) mode has no use for
var NOT_EXTERNAL = {
	ifid: true, tunlink: true, parent_device: true, offload: true, route: true, route6: true,
	full_tunnel: true, rule_priority: true, rule_style: true, exempt_mark: true, mark: true, source: true
};

var BOOL_WORDS = {
	'1': '1', 'true': '1', 'yes': '1', 'on': '1', 'enabled': '1',
	'0': '0', 'false': '0', 'no': '0', 'off': '0', 'disabled': '0'
};

function specOf(name) {
	return OPTIONS.filter(function(o) { return o.name == name; })[0];
}

function isEmpty(v) {
	return v == null || v === '' || (Array.isArray(v) && v.length == 0);
}

// What a stored or entered value means, so that a form that shows the same
// meaning writes nothing: unset = the default, 'yes' = '1', a list written as
// one option = the same list.
function meaning(spec, v) {
	if (spec.list)
		return L.toArray(v).join(' ');
	if (isEmpty(v))
		return (spec.default != null) ? spec.default : '';
	if (spec.flag)
		return BOOL_WORDS[String(v).toLowerCase()] || String(v);
	return String(v);
}

// The form's values as the daemon would see them after Save: hidden fields
// are removed on Save, fields the page does not render keep their stored value.
function formValues(s, section_id) {
	var values = {};

	OPTIONS.forEach(function(spec) {
		var o = s.getOption(spec.name);

		if (o == null)
			values[spec.name] = uci.get('network', section_id, spec.name);
		else if (o.isActive(section_id))
			values[spec.name] = o.formvalue(section_id);
	});

	return values;
}

// entries a dynamic list holds (without the one being typed)
function listItems(o, section_id) {
	var node = o.map.findElement('id', o.cbid(section_id));
	var items = node ? node.querySelectorAll('.item > input[type="hidden"]') : [];
	var rv = [];

	for (var i = 0; i < items.length; i++)
		rv.push(items[i].value);

	return rv;
}

function checkField(spec, section_id, value) {
	if (!this.isActive(section_id))
		return true;

	var values = formValues(this.section, section_id);
	var problem;

	if (spec.list) {
		values[spec.name] = listItems(this, section_id);
		problem = checks().entryProblem(section_id, values, spec.name, value);
	}
	else {
		problem = checks().fieldProblem(section_id, values, spec.name);
	}

	return (problem == null) ? true : problem;
}

// cross-option rules: a change anywhere may make another field right or wrong
function recheckAll(s, section_id) {
	OPTIONS.forEach(function(spec) {
		var o = s.getOption(spec.name);

		if (o != null && o.xfrmdChecked && o.isActive(section_id))
			o.triggerValidation(section_id);
	});
}

function whenAttached(node, fn, tries) {
	if (document.body.contains(node))
		return fn();
	if ((tries || 0) < 50)
		window.setTimeout(whenAttached.bind(null, node, fn, (tries || 0) + 1), 100);
}

function addChecks(o, spec) {
	o.xfrmdChecked = true;
	o.validate = function(section_id, value) {
		return checkField.call(this, spec, section_id, value);
	};
	o.onchange = function(ev, section_id) {
		recheckAll(this.section, section_id);
	};
}

// Save writes only what the user changed: a field that still means what the
// stored value (or its absence) means is left alone.
function writeOnlyChanges(o, spec) {
	var base = Object.getPrototypeOf(o);

	o.cfgvalue = function(section_id, set_value) {
		var v = base.cfgvalue.apply(this, arguments);

		if (spec.flag && !isEmpty(v))
			return BOOL_WORDS[String(v).toLowerCase()] || v;
		if (spec.values && v === spec.default)
			return '';

		return v;
	};

	o.parse = function(section_id) {
		if (!this.isActive(section_id) || !this.isValid(section_id))
			return base.parse.call(this, section_id);

		var fval = this.formvalue(section_id);
		var cval = this.cfgvalue(section_id);

		if (meaning(spec, fval) === meaning(spec, cval))
			return Promise.resolve();

		if (isEmpty(fval) || meaning(spec, fval) === meaning(spec, null))
			return Promise.resolve(this.remove(section_id));

		return Promise.resolve(this.write(section_id, fval));
	};
}

// unset, or the name of an interface LuCI's network picker lists
function pickable(tunlink) {
	var target = isEmpty(tunlink) ? null : uci.get('network', String(tunlink));

	return isEmpty(tunlink) || (L.isObject(target) && target['.type'] == 'interface');
}

function renderOption(s, tab, spec, text) {
	var o;

	switch (spec.name) {
	case 'tunlink':
		// LuCI's network picker drops a stored name it does not list (and Save
		// would then remove it): such a value stays in a text box, checked
		if (pickable(uci.get('network', s.section, spec.name))) {
			o = s.taboption(tab, widgets.NetworkSelect, spec.name, text[0], text[1]);
			o.exclude = s.section;
			o.nocreate = true;
		}
		else {
			o = s.taboption(tab, form.Value, spec.name, text[0], text[1]);
		}
		break;

	case 'parent_device':
		o = s.taboption(tab, widgets.DeviceSelect, spec.name, text[0], text[1]);
		o.noaliases = true;
		break;

	case 'offload':
		o = s.taboption(tab, form.ListValue, spec.name, text[0], text[1]);
		o.value('', _('Off'));
		o.value('crypto', _('Crypto offload: the card encrypts and decrypts'));
		o.value('packet', _('Packet offload: the card also does the ESP encapsulation (Linux 6.2 or later)'));
		break;

	case 'rule_style':
		o = s.taboption(tab, form.ListValue, spec.name, text[0], text[1]);
		o.value('', _('A separate rule sends marked packets to the main table'));
		o.value('invert', _('Each rule of this interface skips marked packets'));
		break;

	default:
		if (spec.flag) {
			o = s.taboption(tab, form.Flag, spec.name, text[0], text[1]);
			o.default = (spec.default == '1') ? o.enabled : o.disabled;
		}
		else if (spec.list) {
			o = s.taboption(tab, form.DynamicList, spec.name, text[0], text[1]);
		}
		else {
			o = s.taboption(tab, form.Value, spec.name, text[0], text[1]);
		}

		if (spec.example != null)
			o.placeholder = spec.example;
	}

	o.rmempty = true;

	if (NOT_EXTERNAL[spec.name])
		o.depends('external', '0');

	addChecks(o, spec);
	writeOnlyChanges(o, spec);

	return o;
}

// LuCI's own fields for netifd's generic options we share (ip4table, ip6table):
// the dialog creates them after renderFormOptions(), so they are found when the
// form loads; they get the daemon's checks and our help.
function adoptGenericOptions(s) {
	var text = optionTexts();
	var multipath = s.getOption('multipath');

	// LuCI's "Multi-Path TCP" choice has no empty entry, so an untouched Save
	// would write its first one (multipath off); unset stays unset here
	if (multipath != null && !multipath.xfrmdChecked) {
		multipath.optional = true;
		multipath.xfrmdChecked = true;
	}

	Object.keys(GENERIC).forEach(function(name) {
		var o = s.getOption(name);
		var spec = specOf(name);

		if (o == null || o.xfrmdChecked)
			return;

		if (!o.description)
			o.description = text[name][1];

		addChecks(o, spec);
	});
}

/* ---------------------------------------------------------------- status */

// the daemon's lifecycle states (src/daemon/lifecycle.ts)
var PHASES = {
	'up': [ 'success', _('Up') ],
	'setting-up': [ 'notice', _('Setting up') ],
	'repairing': [ 'notice', _('Repairing') ],
	'waiting': [ 'notice', _('Waiting to retry') ],
	'failed': [ 'danger', _('Failed') ],
	'tearing-down': [ 'notice', _('Tearing down') ],
	'idle': [ 'notice', _('Down') ]
};

// addresses, routes and rules: { address|route|rule: "iproute2 text", present, replaced_by? }
function entryText(e) {
	return L.isObject(e) ? String(e.route || e.rule || e.address) : String(e);
}

function entryMissing(e) {
	return L.isObject(e) && e.present === false;
}

function countOf(list) {
	list = Array.isArray(list) ? list : [];
	var missing = list.filter(entryMissing).length;

	return missing
		? _('%d of %d installed').format(list.length - missing, list.length)
		: String(list.length);
}

function renderEntries(list) {
	if (!Array.isArray(list) || !list.length)
		return E('em', _('none'));

	return E('ul', { 'class': 'xfrmd-entries' }, list.map(function(e) {
		var li = E('li', { 'class': entryMissing(e) ? 'xfrmd-missing' : null }, E('code', entryText(e)));

		if (entryMissing(e))
			dom.append(li, [ ' ', E('strong', (e.replaced_by != null)
				? _('missing (replaced by protocol %d)').format(e.replaced_by)
				: _('missing')) ]);

		return li;
	}));
}

function yesNo(v) {
	return (v == null) ? _('unknown') : (v ? _('yes') : _('no'));
}

function renderTable(head, rows) {
	return E('table', { 'class': 'table xfrmd-table' }, [
		E('tr', { 'class': 'tr table-titles' }, head.map(function(h) { return E('th', { 'class': 'th' }, h); }))
	].concat(rows.map(function(r) {
		return E('tr', { 'class': 'tr' }, r.map(function(c) { return E('td', { 'class': 'td' }, c); }));
	})));
}

function renderSAs(sas) {
	return renderTable([ _('SPI'), _('Direction'), _('Source'), _('Destination'), _('Traffic'), _('Output mark'), _('Offload') ],
		sas.map(function(sa) {
			var off = L.isObject(sa.offload) ? '%s (%s%s)'.format(sa.offload.dev, sa.offload.dir || '?', sa.offload.packet ? ', ' + _('packet') : '') : _('none');
			return [
				E('code', String(sa.spi)), String(sa.dir || '?'), String(sa.src || '?'), String(sa.dst || '?'),
				'%.2mB (%d %s)'.format(+sa.bytes || 0, +sa.packets || 0, _('Pkts.')),
				(sa.output_mark != null) ? E('code', String(sa.output_mark)) : _('none'),
				off
			];
		}));
}

function renderPolicies(policies) {
	return renderTable([ _('Direction'), _('Source'), _('Destination'), _('Action') ],
		policies.map(function(p) {
			return [ String(p.dir || '?'), String(p.src || '?'), String(p.dst || '?'), String(p.action || 'allow') ];
		}));
}

// The dialog's status block, from one `xfrmd status` reply (absent fields are left out).
function renderStatus(st) {
	if (!L.isObject(st) || st.interface == null)
		return E('div', { 'class': 'xfrmd-status' },
			E('em', _('xfrmd has nothing for this interface yet: it has not been brought up since xfrmd started.')));

	var phase = PHASES[st.phase] || [ 'notice', String(st.phase) ];
	var items = [
		_('State'), E('span', { 'class': 'label %s'.format(phase[0]), 'data-phase': st.phase }, phase[1])
	];

	if (L.isObject(st.error))
		items.push(_('Error'), E('span', { 'class': 'xfrmd-error' }, [ E('code', String(st.error.code)), ' ', String(st.error.message || '') ]));
	if (st.device != null)
		items.push(_('Device'), E('span', {}, [ (st.ifindex != null) ? '%s (ifindex %d)'.format(st.device, st.ifindex) : String(st.device),
			(st.present === false) ? E('strong', ' ' + _('missing')) : (st.link_up === false) ? E('strong', ' ' + _('down')) : '' ]));
	if (st.ifid != null)
		items.push(_('Interface ID'), '%d (0x%x)'.format(st.ifid, st.ifid));
	if (L.isObject(st.parent))
		items.push(_('Parent'), (st.parent.interface != null)
			? _('%s on device %s').format(st.parent.interface, st.parent.device)
			: String(st.parent.device));
	if (L.isObject(st.offload))
		items.push(_('Hardware offload'), (st.offload.mode == 'off')
			? _('off')
			: _('%s; card: ESP offload %s, checksum offload %s').format(st.offload.mode, yesNo(st.offload.esp_hw_offload), yesNo(st.offload.esp_tx_csum_hw_offload)));
	if (st.table != null)
		items.push(_('Routing table'), String(st.table));
	if (st.table6 != null)
		items.push(_('IPv6 routing table'), String(st.table6));
	if (Array.isArray(st.addresses))
		items.push(_('Addresses'), renderEntries(st.addresses));
	if (Array.isArray(st.routes))
		items.push(_('Routes'), renderEntries(st.routes));
	if (Array.isArray(st.rules))
		items.push(_('Rules'), renderEntries(st.rules));

	var node = E('div', { 'class': 'xfrmd-status' }, ui.itemlist(E('div'), items));

	if (Array.isArray(st.hints) && st.hints.length)
		node.appendChild(E('div', { 'class': 'alert-message notice xfrmd-hints' }, st.hints.map(function(h) {
			return E('p', [ E('code', String(h.code)), ' ', String(h.message || '') ]);
		})));
	if (Array.isArray(st.sas))
		node.appendChild(E('div', { 'class': 'xfrmd-sas' }, [ E('h5', _('Security associations')),
			st.sas.length ? renderSAs(st.sas) : E('em', _('none')) ]));
	if (Array.isArray(st.policies))
		node.appendChild(E('div', { 'class': 'xfrmd-policies' }, [ E('h5', _('Policies')),
			st.policies.length ? renderPolicies(st.policies) : E('em', _('none')) ]));

	return node;
}

function renderStatusError(err) {
	return E('div', { 'class': 'xfrmd-status' },
		E('em', _('xfrmd did not answer (%s). Is the xfrmd service running?').format(err && err.message || err)));
}

// One line for the interface list.
function renderRowStatus(st) {
	if (!L.isObject(st) || st.interface == null)
		return E('em', _('xfrmd: not set up yet'));

	var phase = PHASES[st.phase] || [ 'notice', String(st.phase) ];
	var parts = [ phase[1] ];

	if (st.ifid != null)
		parts.push(_('if_id %d').format(st.ifid));
	if (L.isObject(st.parent))
		parts.push(_('via %s').format(st.parent.interface || st.parent.device));
	if (Array.isArray(st.routes) && st.routes.length)
		parts.push(_('routes %s').format(countOf(st.routes)));
	if (Array.isArray(st.rules) && st.rules.length)
		parts.push(_('rules %s').format(countOf(st.rules)));
	if (Array.isArray(st.sas) && (st.sas.length || st.phase == 'up'))
		parts.push(_('%d SAs').format(st.sas.length));

	var node = E('span', {}, [ E('strong', 'xfrmd: '), parts.join(' · ') ]);

	if (L.isObject(st.error))
		dom.append(node, [ E('br'), E('span', { 'class': 'xfrmd-error' }, '%s: %s'.format(st.error.code, st.error.message || '')) ]);
	if (Array.isArray(st.hints) && st.hints.length)
		dom.append(node, [ E('br'), E('em', st.hints.map(function(h) { return h.message; }).join(' ')) ]);

	return node;
}

var rowPending = {};

// LuCI's interface list re-renders each row's status on every poll and asks the
// protocol for its errors while doing so; that is when the row gets its
// xfrmd line, in a node of its own beside LuCI's.
function refreshRowStatus(name) {
	var cell = document.querySelector('.cbi-section-table-row[data-sid="%s"] [data-name="_ifacestat"]'.format(name));

	if (cell == null || rowPending[name])
		return;

	rowPending[name] = true;

	return callStatus(name).then(function(st) {
		return renderRowStatus(st);
	}, function(err) {
		return E('em', _('xfrmd did not answer'));
	}).then(function(content) {
		var node = cell.querySelector('.xfrmd-row-status') || cell.appendChild(E('div', { 'class': 'xfrmd-row-status' }));
		dom.content(node, content);
	}).finally(function() {
		delete rowPending[name];
	});
}

var ERRORS = {
	INVALID_CONFIG: _('The configuration is invalid'),
	NO_IFID: _('The XFRM interface ID is missing'),
	INVALID_IFID: _('The XFRM interface ID is invalid'),
	INVALID_NAME: _('The interface name cannot name a network device'),
	INVALID_TUNLINK: _('The parent interface is invalid'),
	INVALID_DEVICE: _('The parent device is invalid'),
	PARENT_CONFLICT: _('Both a parent interface and a parent device are set'),
	INVALID_MTU: _('The MTU is invalid'),
	MTU_TOO_SMALL_FOR_IPV6: _('The MTU is too small for IPv6'),
	INVALID_ZONE: _('The firewall zone is invalid'),
	INVALID_BOOL: _('A yes/no option has another value'),
	INVALID_OFFLOAD: _('The hardware offload mode is invalid'),
	OFFLOAD_NEEDS_PARENT: _('Hardware offload needs a parent'),
	OFFLOAD_UNSUPPORTED: _('The parent device does not support the hardware offload asked for'),
	EXTERNAL_CONFLICT: _('Collect-metadata mode cannot have an interface ID, parent or routing options'),
	EXTERNAL_UNSUPPORTED: _('The kernel does not support collect-metadata XFRM devices'),
	DUPLICATE_EXTERNAL: _('Another interface is already the collect-metadata device'),
	FAMILY_MISMATCH: _('An address or prefix is of the wrong IP version'),
	INVALID_ROUTE: _('A route is invalid'),
	INVALID_TABLE: _('The routing table is invalid'),
	RESERVED_TABLE: _('The routing table is the kernel\'s local table'),
	FULL_TUNNEL_IN_MAIN: _('Routing all traffic through the tunnel needs a table other than main'),
	NEEDS_EXEMPT_MARK: _('The ESP packet mark is missing'),
	INVALID_PRIORITY: _('The rule priority is invalid'),
	INVALID_RULE_STYLE: _('The ESP exemption style is invalid'),
	INVALID_MARK: _('A firewall mark is invalid'),
	INVALID_SOURCE: _('A source rule is invalid'),
	DUPLICATE_IFID: _('Another interface uses the same XFRM interface ID'),
	PRIORITY_CONFLICT: _('Another interface\'s rules at this priority lead elsewhere'),
	TABLE_CONFLICT: _('Another interface uses this routing table'),
	ROUTE_CONFLICT: _('Another interface has the same route in the same table'),
	PARENT_DOWN: _('The parent is not up'),
	PARENT_NOT_FOUND: _('The parent was not found'),
	PARENT_GONE: _('The parent device went away'),
	DEVICE_EXISTS: _('A network device of this name exists and is not xfrmd\'s'),
	NO_KERNEL_SUPPORT: _('The kernel has no XFRM interface support'),
	KERNEL_ERROR: _('The kernel refused a change'),
	NETIFD_ERROR: _('netifd refused a change')
};

Object.keys(ERRORS).forEach(function(code) {
	network.registerErrorCode(code, ERRORS[code]);
});

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

	// the device xfrmd creates is named after the interface (not proto-name)
	getDevice: function() {
		return network.instantiateDevice(this._ubus('l3_device') || this.sid, this);
	},

	getErrors: function() {
		var errors = this.super('getErrors', []);

		if (this.sid != '__dummy__')
			refreshRowStatus(this.sid);

		return errors;
	},

	renderFormOptions: function(s) {
		var text = optionTexts();
		var o;

		s.tab('xfrm_routing', _('Tunnel routing'),
			_('Which traffic xfrmd routes into the tunnel: routes, policy rules by mark or source, or everything.'));

		s.tab('xfrm_status', _('Tunnel status'), _('What xfrmd has set up for this interface, as it reports it.'));

		o = s.taboption('xfrm_status', form.DummyValue, '_xfrmd_status', _('xfrmd'));
		o.modalonly = true;
		o.load = function(section_id) {
			adoptGenericOptions(this.section);
			return callStatus(section_id).then(renderStatus, renderStatusError);
		};
		o.render = function(option_index, section_id, in_table) {
			var section = this.section;

			return form.DummyValue.prototype.render.apply(this, [ option_index, section_id, in_table ]).then(function(frame) {
				// LuCI checks a field on input only: check the stored values once the dialog shows
				whenAttached(frame, recheckAll.bind(null, section, section_id));
				return frame;
			});
		};

		OPTIONS.forEach(function(spec) {
			if (GENERIC[spec.name] || FIREWALL_TAB[spec.name])
				return;

			var tab = (spec.group == 'routing') ? 'xfrm_routing' : ADVANCED[spec.name] ? 'advanced' : 'general';
			renderOption(s, tab, spec, text[spec.name]);
		});

		// `option zone` (stock xfrm proto, or set by hand): kept, shown, not edited here
		if (uci.get('network', s.section, 'zone')) {
			o = s.taboption('firewall', form.DummyValue, '_xfrmd_zone', text.zone[0],
				_('This interface also names a firewall zone in its network configuration; the firewall adds it to that zone while it is up. Choosing a zone above is the usual way.'));
			o.modalonly = true;
			o.cfgvalue = function(section_id) {
				return uci.get('network', section_id, 'zone');
			};
		}
	}
});

// src/config/form-check.ts and the validator it calls, bundled by `npm run gen`
// (scripts/gen-files.ts): the same code the daemon runs. A function declaration,
// so it can sit after the return.
function xfrmdValidator() {
/* validator:begin */
"use strict";
var xfrmdForm = (() => {
  var __defProp = Object.defineProperty;
  var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
  var __getOwnPropNames = Object.getOwnPropertyNames;
  var __hasOwnProp = Object.prototype.hasOwnProperty;
  var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
  var __export = (target, all) => {
    for (var name in all)
      __defProp(target, name, { get: all[name], enumerable: true });
  };
  var __copyProps = (to, from, except, desc) => {
    if (from && typeof from === "object" || typeof from === "function") {
      for (let key of __getOwnPropNames(from))
        if (!__hasOwnProp.call(to, key) && key !== except)
          __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
    }
    return to;
  };
  var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);
  var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

  // src/config/form-check.ts
  var form_check_exports = {};
  __export(form_check_exports, {
    entryProblem: () => entryProblem,
    fieldMessage: () => fieldMessage,
    fieldProblem: () => fieldProblem
  });

  // src/config/schema.ts
  var MTU_MIN = 68;
  var MTU_MAX = 65535;
  var MTU_IPV6_MIN = 1280;
  var PRIORITY_MIN = 2;
  var PRIORITY_MAX = 32763;
  var AUTO_TABLE_BASE = 1e4;
  var OPTIONS = [
    {
      name: "ifid",
      title: "XFRM interface ID",
      help: "The if_id the IKE daemon puts on this tunnel's SAs and policies (strongSwan: if_id_in and if_id_out).",
      example: "5",
      type: "string",
      list: false,
      code: "INVALID_IFID",
      group: "device",
      stock: true,
      format: "1..4294967295, decimal or 0x-hex; required unless `external`",
      range: { min: 1, max: 4294967295 },
      description: "XFRM interface id (if_id) that the IKE daemon puts on the SAs and policies of this tunnel."
    },
    {
      name: "tunlink",
      title: "Parent interface",
      help: "Logical interface whose device carries the encrypted packets, such as wan. The tunnel waits for it and follows its device, across PPPoE reconnects too.",
      type: "string",
      list: false,
      code: "INVALID_TUNLINK",
      group: "device",
      stock: true,
      format: "logical interface name, e.g. `wan`",
      description: "Parent given as a logical interface: the tunnel waits for it and binds to its L3 device."
    },
    {
      name: "parent_device",
      title: "Parent device",
      help: "Network device that carries the encrypted packets, for when no logical interface stands for it. Set either this or the parent interface.",
      example: "eth1",
      type: "string",
      list: false,
      code: "INVALID_DEVICE",
      group: "device",
      stock: false,
      format: "network device name, 1..15 characters; not together with `tunlink`",
      description: "Parent given as a network device (e.g. `eth1`), the NIC that carries the ESP packets."
    },
    {
      name: "mtu",
      title: "MTU",
      help: "Largest packet the tunnel device accepts before encryption. IPv6 needs at least 1280.",
      example: "1280",
      type: "string",
      list: false,
      default: "1280",
      code: "INVALID_MTU",
      group: "device",
      stock: true,
      format: `${MTU_MIN}..${MTU_MAX}; at least ${MTU_IPV6_MIN} when IPv6 is used`,
      range: { min: MTU_MIN, max: MTU_MAX },
      description: "MTU of the XFRM interface."
    },
    {
      name: "zone",
      title: "Firewall zone",
      help: "Firewall zone the interface is added to while it is up.",
      example: "vpn",
      type: "string",
      list: false,
      code: "INVALID_ZONE",
      group: "device",
      stock: true,
      format: "firewall zone name",
      description: "Firewall zone the interface is added to."
    },
    {
      name: "multicast",
      title: "Multicast",
      help: "Lets the tunnel device carry multicast, for routing protocols such as OSPF.",
      type: "string",
      list: false,
      default: "1",
      code: "INVALID_BOOL",
      group: "device",
      stock: true,
      format: "boolean: 1/0, true/false, yes/no, on/off",
      description: "Whether the interface has the MULTICAST flag (for routing protocols such as OSPF)."
    },
    {
      name: "offload",
      title: "Hardware offload",
      help: "IPsec offload wanted on the parent's network card. xfrmd checks that the card supports it; the IKE daemon enables it on the SAs. Needs a parent.",
      type: "string",
      list: false,
      default: "off",
      code: "INVALID_OFFLOAD",
      group: "device",
      stock: false,
      format: "`off`, `crypto` or `packet` (packet needs Linux 6.2); `crypto`/`packet` need `tunlink` or `parent_device`",
      values: ["off", "crypto", "packet"],
      description: "IPsec hardware offload wanted on the parent NIC, passed to the IKE daemon with the interface data."
    },
    {
      name: "external",
      title: "Collect-metadata mode",
      help: "One tunnel device for the whole system that takes the if_id from each route (collect-metadata mode, Linux 6.1 or later). It has no interface ID, parent or routing options of its own.",
      type: "string",
      list: false,
      default: "0",
      code: "INVALID_BOOL",
      group: "device",
      stock: false,
      format: "boolean; needs Linux 6.1; excludes `ifid`, parents and routing options",
      description: "Collect-metadata mode: one device per network namespace, the if_id comes from each route."
    },
    {
      name: "ipaddr",
      title: "IPv4 addresses",
      help: "Addresses of the tunnel device itself. Without a prefix length an address is a single host.",
      example: "10.9.0.2/32",
      type: "array",
      list: true,
      code: "INVALID_ADDRESS",
      group: "addresses",
      stock: false,
      format: "IPv4 `address[/length]` (default /32); several allowed",
      description: "IPv4 addresses of the XFRM interface itself."
    },
    {
      name: "ip6addr",
      title: "IPv6 addresses",
      help: "Addresses of the tunnel device itself. Without a prefix length an address is a single host.",
      example: "fd00:9::2/64",
      type: "array",
      list: true,
      code: "INVALID_ADDRESS",
      group: "addresses",
      stock: false,
      format: "IPv6 `address[/length]` (default /128); several allowed",
      description: "IPv6 addresses of the XFRM interface itself."
    },
    {
      name: "route",
      title: "IPv4 routes",
      help: "Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.",
      example: "10.1.0.0/16",
      type: "array",
      list: true,
      code: "INVALID_ROUTE",
      group: "routing",
      stock: false,
      format: "`prefix[,metric=N][,mtu=N]`, e.g. `10.1.0.0/16,metric=5`",
      description: "IPv4 remote subnets routed into the tunnel; one equal to a subnet of the interface or a `source` is skipped."
    },
    {
      name: "route6",
      title: "IPv6 routes",
      help: "Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.",
      example: "fd01::/64",
      type: "array",
      list: true,
      code: "INVALID_ROUTE",
      group: "routing",
      stock: false,
      format: "`prefix[,metric=N][,mtu=N]`, e.g. `fd01::/64`",
      description: "IPv6 remote subnets routed into the tunnel, as `route`."
    },
    {
      name: "ip4table",
      title: "IPv4 routing table",
      help: "Table for this interface's IPv4 routes. Left empty, routes go into main until rules are needed, then into table 10000 plus the interface ID.",
      type: "string",
      list: false,
      code: "INVALID_TABLE",
      group: "routing",
      stock: false,
      format: `table number 1..4294967295, \`main\` or \`default\` (\`local\` is refused); default: \`main\` without rules, else ${AUTO_TABLE_BASE}+ifid`,
      description: "Routing table for the IPv4 routes of this interface."
    },
    {
      name: "ip6table",
      title: "IPv6 routing table",
      help: "Table for this interface's IPv6 routes, chosen like the IPv4 one.",
      type: "string",
      list: false,
      code: "INVALID_TABLE",
      group: "routing",
      stock: false,
      format: "as `ip4table`",
      description: "Routing table for the IPv6 routes of this interface."
    },
    {
      name: "full_tunnel",
      title: "Route all traffic through the tunnel",
      help: "Adds a default route to the tunnel's table and rules that send all other traffic there. Needs the ESP packet mark, and a table other than main.",
      type: "string",
      list: false,
      default: "0",
      code: "INVALID_BOOL",
      group: "routing",
      stock: false,
      format: "boolean; needs `exempt_mark` and a table other than `main`",
      description: "Full tunnel: a default route into the table (src = the first address) and rules that send all other traffic there."
    },
    {
      name: "rule_priority",
      title: "Rule priority",
      help: "Base priority of this interface's policy rules; they use the base minus one up to the base plus two.",
      example: "100",
      type: "string",
      list: false,
      default: "100",
      code: "INVALID_PRIORITY",
      group: "routing",
      stock: false,
      format: `${PRIORITY_MIN}..${PRIORITY_MAX}; rules use base-1 \u2026 base+2`,
      range: { min: PRIORITY_MIN, max: PRIORITY_MAX },
      description: "Base priority of the policy rules of this interface."
    },
    {
      name: "rule_style",
      title: "ESP exemption",
      help: "How encrypted packets carrying the ESP packet mark are kept out of the tunnel's table.",
      type: "string",
      list: false,
      default: "exempt",
      code: "INVALID_RULE_STYLE",
      group: "routing",
      stock: false,
      format: "`exempt` (separate `fwmark \u2026 lookup main` rule) or `invert` (`not fwmark` on each rule)",
      values: ["exempt", "invert"],
      description: "How ESP/IKE packets carrying `exempt_mark` are kept out of the tunnel table."
    },
    {
      name: "exempt_mark",
      title: "ESP packet mark",
      help: "Firewall mark that the SAs put on the encrypted packets (their output mark, set_mark_out in swanctl.conf), so that these keep using the main table.",
      example: "0x6",
      type: "string",
      list: false,
      code: "INVALID_MARK",
      group: "routing",
      stock: false,
      format: "`value[/mask]`, decimal or 0x-hex, mask default 0xffffffff",
      description: "Firewall mark of the encrypted packets (the SA output mark), which must keep using the main table."
    },
    {
      name: "mark",
      title: "Routed marks",
      help: "Traffic carrying one of these firewall marks uses this interface's table, for example a CONNMARK per uplink.",
      example: "0x100/0xff00",
      type: "array",
      list: true,
      code: "INVALID_MARK",
      group: "routing",
      stock: false,
      format: "`value[/mask]`, as `exempt_mark`",
      description: "Firewall marks whose traffic is routed through this interface's table (e.g. per-upstream CONNMARK)."
    },
    {
      name: "source",
      title: "Source rules",
      help: "Traffic from these source subnets uses this interface's table; add >destination to match only traffic to that subnet.",
      example: "192.168.5.0/24>10.0.0.0/8",
      type: "array",
      list: true,
      code: "INVALID_SOURCE",
      group: "routing",
      stock: false,
      format: "`src-prefix` or `src-prefix>dst-prefix`, e.g. `192.168.5.0/24>10.0.0.0/8`",
      description: "Traffic from these sources (optionally to a destination) uses this interface's table."
    }
  ];
  var OPTION_BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));
  var NETIFD_COMMON_OPTIONS = /* @__PURE__ */ new Set([
    "proto",
    "auto",
    "disabled",
    "force_link",
    "ifname",
    "device",
    "metric",
    "peerdns",
    "dns",
    "dns_search",
    "dns_metric",
    "ip6assign",
    "ip6hint",
    "ip6class",
    "ip6ifaceid",
    "ip6weight",
    "ip6deprecated",
    "delegate",
    "interface",
    "macaddr",
    "type",
    "ipv6",
    "sourcefilter",
    "defaultroute",
    "jail",
    "jail_device",
    "jail_ifname",
    "host_device",
    "renew",
    "tags",
    "carrier_loss_delay"
  ]);

  // src/config/ip.ts
  var BITS = { 4: 32, 6: 128 };
  function parseV4(s) {
    const parts = s.split(".");
    if (parts.length !== 4) return void 0;
    let v = 0n;
    for (const p of parts) {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return void 0;
      const n = Number(p);
      if (n > 255) return void 0;
      v = v << 8n | BigInt(n);
    }
    return v;
  }
  function parseV6(s) {
    if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return void 0;
    let groups;
    let tail = [];
    const lastColon = s.lastIndexOf(":");
    if (s.includes(".")) {
      const v4 = parseV4(s.slice(lastColon + 1));
      if (v4 === void 0) return void 0;
      tail = [v4 >> 16n, v4 & 0xffffn];
      const head2 = s.slice(0, lastColon + 1);
      s = head2.endsWith("::") ? head2 : head2.slice(0, -1);
    }
    const want = 8 - tail.length;
    const dbl = s.split("::");
    if (dbl.length > 2) return void 0;
    const split = (t) => t === "" ? [] : t.split(":");
    const head = split(dbl[0] ?? "");
    const rest = dbl.length === 2 ? split(dbl[1] ?? "") : [];
    if (!head || !rest) return void 0;
    if (dbl.length === 2) {
      const fill = want - head.length - rest.length;
      if (fill < 1) return void 0;
      groups = [...head, ...Array(fill).fill("0"), ...rest];
    } else {
      groups = head;
      if (groups.length !== want) return void 0;
    }
    let v = 0n;
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return void 0;
      v = v << 16n | BigInt(parseInt(g, 16));
    }
    for (const t of tail) v = v << 16n | t;
    return v;
  }
  function parseAddress(s) {
    if (s.includes(":")) {
      const value2 = parseV6(s);
      return value2 === void 0 ? void 0 : { family: 6, value: value2 };
    }
    const value = parseV4(s);
    return value === void 0 ? void 0 : { family: 4, value };
  }
  function formatAddress(family, v) {
    if (family === 4) return [24n, 16n, 8n, 0n].map((sh) => String(v >> sh & 0xffn)).join(".");
    const g = [];
    for (let i = 7; i >= 0; i--) g.push(Number(v >> BigInt(i * 16) & 0xffffn));
    if (g.slice(0, 5).every((x) => x === 0) && g[5] === 65535) {
      return `::ffff:${formatAddress(4, v & 0xffffffffn)}`;
    }
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    const hex = g.map((x) => x.toString(16));
    if (best < 0) return hex.join(":");
    return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
  }
  function parsePrefix(text, family) {
    const slash = text.indexOf("/");
    const a = slash < 0 ? text : text.slice(0, slash);
    const l = slash < 0 ? void 0 : text.slice(slash + 1);
    const parsed = parseAddress(a);
    if (!parsed) return { ok: false, reason: "is not an IPv4 or IPv6 address" };
    if (family !== void 0 && parsed.family !== family) {
      return { ok: false, reason: `is an IPv${parsed.family} address where IPv${family} is expected`, family: parsed.family };
    }
    const bits = BITS[parsed.family];
    let len = bits;
    if (l !== void 0) {
      if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > bits) {
        return { ok: false, reason: `has an invalid prefix length (0..${bits})` };
      }
      len = Number(l);
    }
    return {
      ok: true,
      prefix: { family: parsed.family, addr: formatAddress(parsed.family, parsed.value), len },
      value: parsed.value
    };
  }
  function maskOf(family, len) {
    const bits = BigInt(BITS[family]);
    const all = (1n << bits) - 1n;
    return len === 0 ? 0n : all >> bits - BigInt(len) << bits - BigInt(len);
  }
  function networkOf(p) {
    const v = parseAddress(p.addr);
    if (!v) throw new Error(`bad address ${p.addr}`);
    return { family: p.family, addr: formatAddress(p.family, v.value & maskOf(p.family, p.len)), len: p.len };
  }
  function hasHostBits(p) {
    return networkOf(p).addr !== p.addr;
  }
  function prefixText(p) {
    return `${p.addr}/${p.len}`;
  }
  function samePrefix(a, b) {
    return a.family === b.family && a.len === b.len && a.addr === b.addr;
  }

  // src/config/text.ts
  var MAX_SHOWN = 64;
  function escapeChar(ch) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === "\\") return "\\\\";
    if (ch === "'") return "\\'";
    if (cp >= 32 && cp <= 126) return ch;
    if (ch === "\n") return "\\n";
    if (ch === "	") return "\\t";
    if (ch === "\r") return "\\r";
    if (cp <= 255) return `\\x${cp.toString(16).padStart(2, "0")}`;
    return `\\u{${cp.toString(16)}}`;
  }
  function quote(s) {
    const chars = Array.from(s);
    const shown = chars.slice(0, MAX_SHOWN).map(escapeChar).join("");
    const cut = chars.length > MAX_SHOWN ? `\u2026' (${chars.length} characters)` : "'";
    return `'${shown}${cut}`;
  }
  function describeValue(v) {
    if (typeof v === "string") return quote(v);
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (v === null) return "null";
    if (Array.isArray(v)) {
      const items = v.slice(0, 4).map(describeValue);
      return `[${items.join(", ")}${v.length > 4 ? `, \u2026 (${v.length} entries)` : ""}]`;
    }
    if (typeof v === "object") return "an object";
    return `a ${typeof v}`;
  }

  // src/config/validate.ts
  var BOOL_WORDS = {
    "1": true,
    true: true,
    yes: true,
    on: true,
    enabled: true,
    "0": false,
    false: false,
    no: false,
    off: false,
    disabled: false
  };
  var IFNAMSIZ = 16;
  var ok = (value) => ({ ok: true, value });
  var bad = (reason) => ({ ok: false, reason });
  function parseUint(text, hex) {
    if (/^(0|[1-9][0-9]*)$/.test(text)) {
      if (text.length > 10) return bad("is too large");
      return ok(Number(text));
    }
    if (hex && /^0[xX][0-9a-fA-F]+$/.test(text)) {
      const digits = text.slice(2).replace(/^0+(?=.)/, "");
      if (digits.length > 8) return bad("is too large");
      return ok(parseInt(digits, 16));
    }
    if (/^0[0-9]+$/.test(text)) return bad("has a leading zero (ambiguous: octal to some tools)");
    if (/^-[0-9]/.test(text)) return bad("is negative");
    return bad(hex ? "is not a number (decimal or 0x-hex)" : "is not a decimal number");
  }
  function intValue(v, hex) {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) return bad("is not a whole number");
      if (v < 0) return bad("is negative");
      return ok(v);
    }
    if (typeof v === "string") return parseUint(v, hex);
    return bad(`must be a number, not ${kindOf(v)}`);
  }
  function kindOf(v) {
    if (Array.isArray(v)) return "a list";
    if (v === null) return "null";
    if (typeof v === "object") return "an object";
    return `a ${typeof v}`;
  }
  function boolValue(v) {
    if (typeof v === "boolean") return ok(v);
    if (typeof v === "number" && (v === 0 || v === 1)) return ok(v === 1);
    if (typeof v === "string") {
      const b = BOOL_WORDS[v.toLowerCase()];
      if (b !== void 0) return ok(b);
    }
    return bad("is not a boolean (1/0, true/false, yes/no, on/off)");
  }
  var utf8 = new TextEncoder();
  var exact = (a) => a.length ? a.slice() : a;
  function validNetdevName(name) {
    const bytes = utf8.encode(name).length;
    if (bytes === 0) return bad("is empty");
    if (bytes >= IFNAMSIZ) return bad(`is too long (${bytes} bytes; Linux allows at most ${IFNAMSIZ - 1})`);
    if (name === "." || name === "..") return bad("is not allowed by Linux");
    for (const ch of name) {
      if (!/^[A-Za-z0-9_.-]$/.test(ch)) {
        const cp = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
        const linux = ch === "/" || ch === ":" || /\s/.test(ch) ? "Linux does not allow it" : "xfrmd accepts only letters, digits, _ . -";
        return bad(`contains the character U+${cp} (${linux})`);
      }
    }
    return ok(name);
  }
  function parseMark(text) {
    const [v, m, extra] = text.split("/");
    if (v === void 0 || v === "" || extra !== void 0) return bad("is not value[/mask]");
    const value = parseUint(v, true);
    if (!value.ok) return bad(`value ${value.reason}`);
    let mask = 4294967295;
    if (m !== void 0) {
      const mm = parseUint(m, true);
      if (!mm.ok) return bad(`mask ${mm.reason}`);
      mask = mm.value;
    }
    if (value.value > 4294967295 || mask > 4294967295) return bad("does not fit in 32 bits");
    if (mask === 0) return bad("has mask 0, which matches every packet");
    if ((value.value & ~mask) >>> 0 !== 0) return bad("has bits set outside its mask");
    if (value.value === 0) return bad("is 0, which matches every unmarked packet");
    return ok({ value: value.value, mask });
  }
  function parseTable(text) {
    if (text === "main") return ok(254);
    if (text === "default") return ok(253);
    if (text === "local") return { ok: false, reason: "is the kernel's local table", reserved: true };
    const n = parseUint(text, true);
    if (!n.ok) return bad(/^[A-Za-z]/.test(text) ? "is not a table number (names other than main/default are not read from rt_tables)" : n.reason);
    if (n.value === 0) return bad("is 0, which is not a table");
    if (n.value > 4294967295) return bad("does not fit in 32 bits");
    if (n.value === 255) return { ok: false, reason: "is the kernel's local table", reserved: true };
    return ok(n.value);
  }
  var Collector = class {
    constructor(section) {
      __publicField(this, "section", section);
      __publicField(this, "errors", []);
    }
    add(code, option, message) {
      this.errors.push({ code, section: this.section, ...option === void 0 ? {} : { option }, message });
    }
    /** "option mtu: value '99999' is out of range …" */
    badValue(option, value, reason, code = OPTION_BY_NAME.get(option)?.code ?? "INVALID_CONFIG") {
      this.add(code, option, `${this.section}: option ${option}: ${describeValue(value)} ${reason}`);
    }
  };
  function scalar(raw, name, c) {
    const v = raw[name];
    if (v === void 0 || v === null || v === "") return void 0;
    if (Array.isArray(v)) {
      if (v.length === 1 && (typeof v[0] === "string" || typeof v[0] === "number" || typeof v[0] === "boolean")) return v[0] === "" ? void 0 : v[0];
      c.badValue(name, v, "is a list, but this option takes one value");
      return void 0;
    }
    if (typeof v === "object") {
      c.badValue(name, v, "is not a value this option takes");
      return void 0;
    }
    return v;
  }
  function list(raw, name, c) {
    const v = raw[name];
    if (v === void 0 || v === null || v === "") return [];
    if (typeof v === "string") return v.split(/[ \t]+/).filter((w) => w !== "");
    if (typeof v === "number") return [String(v)];
    if (Array.isArray(v)) {
      const out = [];
      for (const item of v) {
        if (typeof item === "string" && item !== "") out.push(item);
        else if (typeof item === "number") out.push(String(item));
        else c.badValue(name, item, item === "" ? "is an empty entry" : "is not a text entry");
      }
      return out;
    }
    c.badValue(name, v, "is not a list of text entries");
    return [];
  }
  function defaultOf(name) {
    const d = OPTION_BY_NAME.get(name)?.default;
    if (d === void 0) throw new Error(`option ${name} has no default`);
    return d;
  }
  function boolOpt(raw, name, c) {
    const v = scalar(raw, name, c) ?? defaultOf(name);
    const b = boolValue(v);
    if (b.ok) return b.value;
    c.badValue(name, v, b.reason);
    return false;
  }
  function parseAddressList(raw, name, family, c) {
    const out = [];
    for (const item of list(raw, name, c)) {
      const r = parsePrefix(item, family);
      if (!r.ok) {
        c.badValue(name, item, r.reason, r.family !== void 0 ? "FAMILY_MISMATCH" : "INVALID_ADDRESS");
        continue;
      }
      const p = r.prefix;
      if (p.len === 0) {
        c.badValue(name, item, "has prefix length 0", "INVALID_ADDRESS");
        continue;
      }
      const unspecified = family === 4 ? p.addr === "0.0.0.0" : p.addr === "::";
      const multicast = family === 4 ? r.value >> 28n === 0xen || p.addr === "255.255.255.255" : r.value >> 120n === 0xffn;
      if (unspecified || multicast) {
        c.badValue(name, item, `is ${unspecified ? "the unspecified" : "a multicast or broadcast"} address`, "INVALID_ADDRESS");
        continue;
      }
      if (out.some((q) => q.addr === p.addr)) {
        c.badValue(name, item, "is listed twice", "INVALID_ADDRESS");
        continue;
      }
      out.push(p);
    }
    return exact(out);
  }
  function parseRouteList(raw, name, family, c) {
    const out = [];
    for (const item of list(raw, name, c)) {
      const [pfx = "", ...params] = item.split(",");
      const r = parsePrefix(pfx, family);
      if (!r.ok) {
        c.badValue(name, item, `has prefix ${quote(pfx)}, which ${r.reason}`, r.family !== void 0 ? "FAMILY_MISMATCH" : "INVALID_ROUTE");
        continue;
      }
      if (r.prefix.len === 0) {
        c.badValue(name, item, "is a default route; use option full_tunnel", "INVALID_ROUTE");
        continue;
      }
      if (hasHostBits(r.prefix)) {
        c.badValue(name, item, `has host bits set; did you mean ${prefixText(networkOf(r.prefix))}?`, "INVALID_ROUTE");
        continue;
      }
      const entry = { prefix: r.prefix };
      let good = true;
      for (const p of params) {
        const m = /^(metric|mtu)=(.*)$/.exec(p);
        if (!m) {
          c.badValue(name, item, `has ${quote(p)}, expected metric=N or mtu=N`, "INVALID_ROUTE");
          good = false;
          break;
        }
        const key = m[1];
        if (entry[key] !== void 0) {
          c.badValue(name, item, `sets ${key} twice`, "INVALID_ROUTE");
          good = false;
          break;
        }
        const n = parseUint(m[2] ?? "", false);
        const min = key === "mtu" ? family === 6 ? MTU_IPV6_MIN : MTU_MIN : 0;
        const max = key === "mtu" ? MTU_MAX : 4294967295;
        if (!n.ok || n.value < min || n.value > max) {
          c.badValue(name, item, `has ${key} ${n.ok ? n.value : quote(m[2] ?? "")} outside ${min}..${max}`, "INVALID_ROUTE");
          good = false;
          break;
        }
        entry[key] = n.value;
      }
      if (!good) continue;
      const metricOf = (e) => family === 6 ? e.metric || 1024 : e.metric ?? 0;
      if (out.some((e) => samePrefix(e.prefix, entry.prefix) && metricOf(e) === metricOf(entry))) {
        c.badValue(name, item, "is listed twice", "INVALID_ROUTE");
        continue;
      }
      out.push(entry);
    }
    return exact(out);
  }
  function parseSourceList(raw, c) {
    const out = [];
    for (const item of list(raw, "source", c)) {
      const parts = item.split(">");
      if (parts.length > 2) {
        c.badValue("source", item, "has more than one '>'");
        continue;
      }
      const src = parsePrefix(parts[0] ?? "");
      if (!src.ok) {
        c.badValue("source", item, `has source ${quote(parts[0] ?? "")}, which ${src.reason}`);
        continue;
      }
      const family = src.prefix.family;
      let dst;
      if (parts.length === 2) {
        const d = parsePrefix(parts[1] ?? "", family);
        if (!d.ok) {
          c.badValue("source", item, `has destination ${quote(parts[1] ?? "")}, which ${d.reason}`, d.family !== void 0 ? "FAMILY_MISMATCH" : "INVALID_SOURCE");
          continue;
        }
        dst = d.prefix;
      }
      const withHost = [src.prefix, dst].find((p) => p !== void 0 && hasHostBits(p));
      if (withHost) {
        c.badValue("source", item, `has host bits set in ${prefixText(withHost)}; did you mean ${prefixText(networkOf(withHost))}?`);
        continue;
      }
      const e = dst ? { family, src: src.prefix, dst } : { family, src: src.prefix };
      const same = (a, b) => a === void 0 ? b === void 0 : b !== void 0 && samePrefix(a, b);
      if (out.some((o) => samePrefix(o.src, e.src) && same(o.dst, e.dst))) {
        c.badValue("source", item, "is listed twice");
        continue;
      }
      out.push(e);
    }
    return exact(out);
  }
  function validateConfig(raw, section, opts = {}) {
    const c = new Collector(section);
    if (opts.strict) {
      for (const k of Object.keys(raw)) {
        if (!OPTION_BY_NAME.has(k) && !NETIFD_COMMON_OPTIONS.has(k)) {
          c.add("UNKNOWN_OPTION", k, `${section}: unknown option ${quote(k)}; known options: ${OPTIONS.map((o) => o.name).join(" ")}`);
        }
      }
    }
    const nm = validNetdevName(section);
    if (!nm.ok) c.add("INVALID_NAME", void 0, `interface name ${quote(section)} cannot name the XFRM device: it ${nm.reason}`);
    const external = boolOpt(raw, "external", c);
    let ifId = 0;
    const ifidRaw = scalar(raw, "ifid", c);
    if (ifidRaw === void 0) {
      if (!external) c.add("NO_IFID", "ifid", `${section}: option ifid is missing (1..4294967295, the if_id the IKE daemon uses)`);
    } else {
      let v;
      if (typeof ifidRaw === "number" && Number.isInteger(ifidRaw) && ifidRaw < 0 && ifidRaw >= -2147483648) v = ok(ifidRaw >>> 0);
      else v = intValue(ifidRaw, true);
      if (!v.ok) c.badValue("ifid", ifidRaw, v.reason);
      else if (v.value === 0 && external) ifId = 0;
      else if (v.value === 0) c.badValue("ifid", ifidRaw, "is 0; the kernel refuses if_id 0 (use 1..4294967295)");
      else if (v.value > 4294967295) c.badValue("ifid", ifidRaw, "is above 4294967295 (0xffffffff)");
      else if (external) c.add("EXTERNAL_CONFLICT", "ifid", `${section}: option ifid ${describeValue(ifidRaw)} cannot be used with external (the if_id comes from each route)`);
      else ifId = v.value;
    }
    let parent;
    const tunlink = scalar(raw, "tunlink", c);
    const device = scalar(raw, "parent_device", c);
    if (tunlink !== void 0) {
      if (typeof tunlink !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(tunlink)) {
        c.badValue("tunlink", tunlink, "is not an interface name (letters, digits, _ . -; at most 64)");
      } else if (tunlink === section) {
        c.badValue("tunlink", tunlink, "is this interface itself");
      } else parent = { kind: "interface", name: tunlink };
    }
    if (device !== void 0) {
      const d = typeof device === "string" ? validNetdevName(device) : bad(`must be a device name, not ${kindOf(device)}`);
      if (!d.ok) c.badValue("parent_device", device, d.reason);
      else if (device === section) c.badValue("parent_device", device, "is the XFRM device itself");
      else if (tunlink !== void 0) {
        c.add("PARENT_CONFLICT", "parent_device", `${section}: options tunlink ${describeValue(tunlink)} and parent_device ${describeValue(device)} both name a parent; set only one`);
        parent = void 0;
      } else parent = { kind: "device", name: d.value };
    }
    if (external && (tunlink !== void 0 || device !== void 0)) {
      c.add("EXTERNAL_CONFLICT", tunlink !== void 0 ? "tunlink" : "parent_device", `${section}: external mode cannot have a parent (tunlink/parent_device); the kernel requires none`);
      parent = void 0;
    }
    let mtu = Number(defaultOf("mtu"));
    const mtuRaw = scalar(raw, "mtu", c);
    let mtuGiven = false;
    if (mtuRaw !== void 0) {
      const v = intValue(mtuRaw, false);
      if (!v.ok) c.badValue("mtu", mtuRaw, v.reason);
      else if (v.value < MTU_MIN || v.value > MTU_MAX) c.badValue("mtu", mtuRaw, `is outside ${MTU_MIN}..${MTU_MAX}`);
      else {
        mtu = v.value;
        mtuGiven = true;
      }
    }
    let zone;
    const zoneRaw = scalar(raw, "zone", c);
    if (zoneRaw !== void 0) {
      if (typeof zoneRaw !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(zoneRaw)) c.badValue("zone", zoneRaw, "is not a firewall zone name (letters, digits, _ . -)");
      else zone = zoneRaw;
    }
    const multicast = boolOpt(raw, "multicast", c);
    let offload = "off";
    const offRaw = scalar(raw, "offload", c);
    if (offRaw !== void 0) {
      if (offRaw === "off" || offRaw === "crypto" || offRaw === "packet") offload = offRaw;
      else c.badValue("offload", offRaw, "is not one of off, crypto, packet");
    }
    if (offload !== "off" && !parent && tunlink === void 0 && device === void 0) {
      c.add("OFFLOAD_NEEDS_PARENT", "offload", `${section}: option offload '${offload}' needs a parent NIC (tunlink or device) to offload to`);
    }
    const ipaddr = parseAddressList(raw, "ipaddr", 4, c);
    const ip6addr = parseAddressList(raw, "ip6addr", 6, c);
    const routes = parseRouteList(raw, "route", 4, c);
    const routes6 = parseRouteList(raw, "route6", 6, c);
    const tables = {};
    for (const [name, fam] of [["ip4table", 4], ["ip6table", 6]]) {
      const t = scalar(raw, name, c);
      if (t === void 0) continue;
      const text = typeof t === "number" ? String(t) : t;
      if (typeof text !== "string") {
        c.badValue(name, t, `must be a table number or name, not ${kindOf(t)}`);
        continue;
      }
      const r = parseTable(text);
      if (r.ok) tables[fam] = { id: r.value, text };
      else if (r.reserved) c.badValue(name, t, `${r.reason}; routes there would shadow local addresses`, "RESERVED_TABLE");
      else c.badValue(name, t, r.reason);
    }
    const fullTunnel = boolOpt(raw, "full_tunnel", c);
    let rulePriority = Number(defaultOf("rule_priority"));
    const prioRaw = scalar(raw, "rule_priority", c);
    if (prioRaw !== void 0) {
      const v = intValue(prioRaw, false);
      if (!v.ok) c.badValue("rule_priority", prioRaw, v.reason);
      else if (v.value < PRIORITY_MIN || v.value > PRIORITY_MAX) {
        c.badValue("rule_priority", prioRaw, `is outside ${PRIORITY_MIN}..${PRIORITY_MAX} (rules use base-1 \u2026 base+2, below the main rule at 32766)`);
      } else rulePriority = v.value;
    }
    let ruleStyle = "exempt";
    const styleRaw = scalar(raw, "rule_style", c);
    if (styleRaw !== void 0) {
      if (styleRaw === "exempt" || styleRaw === "invert") ruleStyle = styleRaw;
      else c.badValue("rule_style", styleRaw, "is not one of exempt, invert");
    }
    let exemptMark;
    const exRaw = scalar(raw, "exempt_mark", c);
    if (exRaw !== void 0) {
      const m = typeof exRaw === "number" ? parseMark(String(exRaw)) : typeof exRaw === "string" ? parseMark(exRaw) : bad(`must be value[/mask], not ${kindOf(exRaw)}`);
      if (m.ok) exemptMark = m.value;
      else c.badValue("exempt_mark", exRaw, m.reason);
    }
    const marks = [];
    for (const item of list(raw, "mark", c)) {
      const m = parseMark(item);
      if (!m.ok) c.badValue("mark", item, m.reason);
      else if (marks.some((x) => x.value === m.value.value && x.mask === m.value.mask)) c.badValue("mark", item, "is listed twice");
      else if (exemptMark && exemptMark.value === m.value.value && exemptMark.mask === m.value.mask) c.badValue("mark", item, "is also the exempt_mark");
      else marks.push(m.value);
    }
    const sources = parseSourceList(raw, c);
    const ipv6Used = ip6addr.length > 0 || routes6.length > 0 || tables[6] !== void 0 || sources.some((s) => s.family === 6);
    if (ipv6Used && mtu < MTU_IPV6_MIN) {
      const why = ip6addr.length ? "ip6addr" : routes6.length ? "route6" : tables[6] ? "ip6table" : "an IPv6 source";
      c.add("MTU_TOO_SMALL_FOR_IPV6", "mtu", `${section}: option mtu ${mtuGiven ? describeValue(mtuRaw) : mtu} is below ${MTU_IPV6_MIN}, the IPv6 minimum, but ${why} is set (Linux disables IPv6 on such a device)`);
    }
    if (external) {
      const used = [
        ["route", routes.length > 0],
        ["route6", routes6.length > 0],
        ["source", sources.length > 0],
        ["mark", marks.length > 0],
        ["full_tunnel", fullTunnel],
        ["exempt_mark", exemptMark !== void 0],
        ["ip4table", tables[4] !== void 0],
        ["ip6table", tables[6] !== void 0]
      ];
      const routing = used.filter(([, u]) => u).map(([k]) => k);
      if (routing.length) {
        c.add("EXTERNAL_CONFLICT", routing[0], `${section}: external mode cannot use ${routing.join(", ")}: its routes need per-route if_id metadata, which xfrmd does not manage`);
      }
    }
    if (fullTunnel) {
      for (const fam of [4, 6]) {
        const t = tables[fam];
        if (t && t.id === 254 && (fam === 4 || ipv6Used)) {
          c.add("FULL_TUNNEL_IN_MAIN", fam === 4 ? "ip4table" : "ip6table", `${section}: full_tunnel needs a table other than main (option ${fam === 4 ? "ip4table" : "ip6table"} is ${quote(t.text)}); a tunnel default route in main would replace the uplink's`);
        }
      }
      if (!exemptMark && !external && !(raw.exempt_mark !== void 0 && raw.exempt_mark !== "")) {
        c.add("NEEDS_EXEMPT_MARK", "full_tunnel", `${section}: full_tunnel needs option exempt_mark (the SA output mark), or the encrypted packets would be routed back into the tunnel`);
      }
    }
    for (const fam of [4, 6]) {
      const t = tables[fam];
      const asks = marks.length > 0 || sources.some((s) => s.family === fam);
      if (t && t.id === 254 && asks) {
        const opt = fam === 4 ? "ip4table" : "ip6table";
        c.add("INVALID_TABLE", opt, `${section}: option ${opt} is ${quote(t.text)}, but mark and source rules need a table other than main`);
      }
    }
    if (ruleStyle === "invert" && !exemptMark && (raw.exempt_mark === void 0 || raw.exempt_mark === "")) {
      c.add("NEEDS_EXEMPT_MARK", "rule_style", `${section}: rule_style 'invert' needs option exempt_mark (the mark the rules exclude)`);
    }
    if (c.errors.length) return { ok: false, errors: c.errors };
    const config = {
      section,
      name: section,
      ifId,
      external,
      mtu,
      multicast,
      offload,
      ipaddr,
      ip6addr,
      routes,
      routes6,
      fullTunnel,
      rulePriority,
      ruleStyle,
      marks,
      sources
    };
    if (parent) config.parent = parent;
    if (zone !== void 0) config.zone = zone;
    if (tables[4]) config.table4 = tables[4];
    if (tables[6]) config.table6 = tables[6];
    if (exemptMark) config.exemptMark = exemptMark;
    return { ok: true, config };
  }

  // src/config/form-check.ts
  function issuesOf(section, values, option) {
    const raw = {};
    for (const [k, v] of Object.entries(values)) if (v !== void 0 && v !== "" && !(Array.isArray(v) && v.length === 0)) raw[k] = v;
    const r = validateConfig(raw, section);
    return r.ok ? [] : r.errors.filter((e) => e.option === option);
  }
  function fieldMessage(section, issue) {
    let m = issue.message;
    const own = `${section}: `;
    if (m.startsWith(own)) m = m.slice(own.length);
    if (issue.option !== void 0) {
      const opt = `option ${issue.option}: `;
      if (m.startsWith(opt)) m = m.slice(opt.length);
    }
    return m;
  }
  function fieldProblem(section, values, option) {
    const [first] = issuesOf(section, values, option);
    return first && fieldMessage(section, first);
  }
  function entryProblem(section, values, option, entry) {
    if (entry === "") return void 0;
    const held = values[option];
    const items = held === void 0 ? [] : Array.isArray(held) ? held : [held];
    const before = new Set(issuesOf(section, { ...values, [option]: items }, option).map((i) => i.message));
    const added = issuesOf(section, { ...values, [option]: [...items, entry] }, option).find((i) => !before.has(i.message));
    return added && fieldMessage(section, added);
  }
  return __toCommonJS(form_check_exports);
})();
/* validator:end */
	return xfrmdForm;
}
