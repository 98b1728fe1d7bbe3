// The one description of every option of `proto 'xfrm'`, as data. Read by:
// the netifd shim's `dump` line (netifd drops options a handler does not
// declare), validate.ts (known options, defaults, error codes, ranges), the
// README option table (options-doc.ts) and later the LuCI form.
//
// Declared netifd types. netifd converts UCI text to the declared blobmsg type
// itself (libubox uci_blob): an int32 option goes through strtol(…, 0) into a C
// int, so '4294967295' arrives as -1 on 64-bit targets and is clamped to
// 2147483647 on 32-bit ones, '010' is octal 8, and text that does not convert
// ('5x', 'abc') makes the option silently vanish, so the handler can only say
// NO_IFID. A bool option accepts only '1'/'0'/'true'/'false' and drops the rest.
// We therefore declare our own options as STRING and parse the user's exact
// text here, with an error that names it. This stays compatible with the stock
// xfrm.sh (which declares ifid/mtu int and multicast bool): UCI stores every
// value as text, `option ifid '5'` means the same to both, and tools that read
// UCI directly (luci-app-strongswan-swanctl picking an if_id) are unaffected.
// Typed JSON numbers/booleans (ubus add_dynamic, hand-written JSON) are still
// accepted by validate.ts. No option of ours reuses the name of one of netifd's
// generic interface options (defaultroute, device, metric, …) with another
// meaning: netifd and LuCI act on those for every proto.

export const BLOBMSG = { array: 1, string: 3, int32: 5, bool: 7 } as const;
export type NetifdType = keyof typeof BLOBMSG;

export type OptionGroup = 'device' | 'addresses' | 'routing';

export interface OptionDef {
  name: string;
  /** blobmsg type declared in the dump (lists are `array` of strings) */
  type: NetifdType;
  list: boolean;
  /** default when unset, as the user would write it; undefined = unset/none */
  default?: string;
  /** the error code a bad value of this option gets */
  code: string;
  group: OptionGroup;
  /** same name, same meaning in OpenWrt's stock xfrm proto */
  stock: boolean;
  /** valid values, for users (README, LuCI placeholder) */
  format: string;
  /** one sentence for users (README) */
  description: string;
  /** the option's name for people (LuCI field title): a few words, no markup */
  title: string;
  /**
   * LuCI help text under the field: plain sentences for someone filling in the form, no Markdown
   * and no repetition of the value format (the placeholder shows an example, the validator the rules)
   */
  help: string;
  /** an example value, shown as the LuCI placeholder (the default where there is one) */
  example?: string;
  /** machine-readable bounds where there are simple ones */
  range?: { min: number; max: number };
  values?: readonly string[];
}

export const MTU_MIN = 68;
export const MTU_MAX = 65535;
export const MTU_IPV6_MIN = 1280;
export const PRIORITY_MIN = 2;
export const PRIORITY_MAX = 32763;
/** Tables derived from if_id: AUTO_TABLE_BASE + (if_id mod AUTO_TABLE_SPAN). */
export const AUTO_TABLE_BASE = 10000;
export const AUTO_TABLE_SPAN = 0x80000000;

export const OPTIONS: readonly OptionDef[] = [
  {
    name: 'ifid',
    title: 'XFRM interface ID',
    help: 'The if_id the IKE daemon puts on this tunnel\'s SAs and policies (strongSwan: if_id_in and if_id_out).',
    example: '5',
    type: 'string',
    list: false,
    code: 'INVALID_IFID',
    group: 'device',
    stock: true,
    format: '1..4294967295, decimal or 0x-hex; required unless `external`',
    range: { min: 1, max: 0xffffffff },
    description: 'XFRM interface id (if_id) that the IKE daemon puts on the SAs and policies of this tunnel.',
  },
  {
    name: 'tunlink',
    title: 'Parent interface',
    help: 'Logical interface whose device carries the encrypted packets, such as wan. The tunnel waits for it and follows its device, across PPPoE reconnects too.',
    type: 'string',
    list: false,
    code: 'INVALID_TUNLINK',
    group: 'device',
    stock: true,
    format: 'logical interface name, e.g. `wan`',
    description: 'Parent given as a logical interface: the tunnel waits for it and binds to its L3 device.',
  },
  {
    name: 'parent_device',
    title: 'Parent device',
    help: 'Network device that carries the encrypted packets, for when no logical interface stands for it. Set either this or the parent interface.',
    example: 'eth1',
    type: 'string',
    list: false,
    code: 'INVALID_DEVICE',
    group: 'device',
    stock: false,
    format: 'network device name, 1..15 characters; not together with `tunlink`',
    description: 'Parent given as a network device (e.g. `eth1`), the NIC that carries the ESP packets.',
  },
  {
    name: 'mtu',
    title: 'MTU',
    help: 'Largest packet the tunnel device accepts before encryption. IPv6 needs at least 1280.',
    example: '1280',
    type: 'string',
    list: false,
    default: '1280',
    code: 'INVALID_MTU',
    group: 'device',
    stock: true,
    format: `${MTU_MIN}..${MTU_MAX}; at least ${MTU_IPV6_MIN} when IPv6 is used`,
    range: { min: MTU_MIN, max: MTU_MAX },
    description: 'MTU of the XFRM interface.',
  },
  {
    name: 'zone',
    title: 'Firewall zone',
    help: 'Firewall zone the interface is added to while it is up.',
    example: 'vpn',
    type: 'string',
    list: false,
    code: 'INVALID_ZONE',
    group: 'device',
    stock: true,
    format: 'firewall zone name',
    description: 'Firewall zone the interface is added to.',
  },
  {
    name: 'multicast',
    title: 'Multicast',
    help: 'Lets the tunnel device carry multicast, for routing protocols such as OSPF.',
    type: 'string',
    list: false,
    default: '1',
    code: 'INVALID_BOOL',
    group: 'device',
    stock: true,
    format: 'boolean: 1/0, true/false, yes/no, on/off',
    description: 'Whether the interface has the MULTICAST flag (for routing protocols such as OSPF).',
  },
  {
    name: 'offload',
    title: 'Hardware offload',
    help: 'IPsec offload wanted on the parent\'s network card. xfrmd checks that the card supports it; the IKE daemon enables it on the SAs. Needs a parent.',
    type: 'string',
    list: false,
    default: 'off',
    code: 'INVALID_OFFLOAD',
    group: 'device',
    stock: false,
    format: '`off`, `crypto` or `packet` (packet needs Linux 6.2); `crypto`/`packet` need `tunlink` or `parent_device`',
    values: ['off', 'crypto', 'packet'],
    description: 'IPsec hardware offload wanted on the parent NIC, passed to the IKE daemon with the interface data.',
  },
  {
    name: 'external',
    title: 'Collect-metadata mode',
    help: 'One tunnel device for the whole system that takes the if_id from each route (collect-metadata mode, Linux 6.1 or later). It has no interface ID, parent or routing options of its own.',
    type: 'string',
    list: false,
    default: '0',
    code: 'INVALID_BOOL',
    group: 'device',
    stock: false,
    format: 'boolean; needs Linux 6.1; excludes `ifid`, parents and routing options',
    description: 'Collect-metadata mode: one device per network namespace, the if_id comes from each route.',
  },
  {
    name: 'ipaddr',
    title: 'IPv4 addresses',
    help: 'Addresses of the tunnel device itself. Without a prefix length an address is a single host.',
    example: '10.9.0.2/32',
    type: 'array',
    list: true,
    code: 'INVALID_ADDRESS',
    group: 'addresses',
    stock: false,
    format: 'IPv4 `address[/length]` (default /32); several allowed',
    description: 'IPv4 addresses of the XFRM interface itself.',
  },
  {
    name: 'ip6addr',
    title: 'IPv6 addresses',
    help: 'Addresses of the tunnel device itself. Without a prefix length an address is a single host.',
    example: 'fd00:9::2/64',
    type: 'array',
    list: true,
    code: 'INVALID_ADDRESS',
    group: 'addresses',
    stock: false,
    format: 'IPv6 `address[/length]` (default /128); several allowed',
    description: 'IPv6 addresses of the XFRM interface itself.',
  },
  {
    name: 'route',
    title: 'IPv4 routes',
    help: 'Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.',
    example: '10.1.0.0/16',
    type: 'array',
    list: true,
    code: 'INVALID_ROUTE',
    group: 'routing',
    stock: false,
    format: '`prefix[,metric=N][,mtu=N]`, e.g. `10.1.0.0/16,metric=5`',
    description:
      'IPv4 remote subnets routed into the tunnel; one equal to a subnet of the interface or a `source` is skipped.',
  },
  {
    name: 'route6',
    title: 'IPv6 routes',
    help: 'Remote subnets reached through the tunnel, each optionally followed by ,metric=N or ,mtu=N.',
    example: 'fd01::/64',
    type: 'array',
    list: true,
    code: 'INVALID_ROUTE',
    group: 'routing',
    stock: false,
    format: '`prefix[,metric=N][,mtu=N]`, e.g. `fd01::/64`',
    description: 'IPv6 remote subnets routed into the tunnel, as `route`.',
  },
  {
    name: 'ip4table',
    title: 'IPv4 routing table',
    help: 'Table for this interface\'s IPv4 routes. Left empty, routes go into main until rules are needed, then into table 10000 plus the interface ID.',
    type: 'string',
    list: false,
    code: 'INVALID_TABLE',
    group: 'routing',
    stock: false,
    format: `table number 1..4294967295, \`main\` or \`default\` (\`local\` is refused); default: \`main\` without rules, else ${AUTO_TABLE_BASE}+ifid`,
    description: 'Routing table for the IPv4 routes of this interface.',
  },
  {
    name: 'ip6table',
    title: 'IPv6 routing table',
    help: 'Table for this interface\'s IPv6 routes, chosen like the IPv4 one.',
    type: 'string',
    list: false,
    code: 'INVALID_TABLE',
    group: 'routing',
    stock: false,
    format: 'as `ip4table`',
    description: 'Routing table for the IPv6 routes of this interface.',
  },
  {
    name: 'full_tunnel',
    title: 'Route all traffic through the tunnel',
    help: 'Adds a default route to the tunnel\'s table and rules that send all other traffic there. Needs the ESP packet mark, and a table other than main.',
    type: 'string',
    list: false,
    default: '0',
    code: 'INVALID_BOOL',
    group: 'routing',
    stock: false,
    format: 'boolean; needs `exempt_mark` and a table other than `main`',
    description:
      'Full tunnel: a default route into the table (src = the first address) and rules that send all other traffic there.',
  },
  {
    name: 'rule_priority',
    title: 'Rule priority',
    help: 'Base priority of this interface\'s policy rules; they use the base minus one up to the base plus two.',
    example: '100',
    type: 'string',
    list: false,
    default: '100',
    code: 'INVALID_PRIORITY',
    group: 'routing',
    stock: false,
    format: `${PRIORITY_MIN}..${PRIORITY_MAX}; rules use base-1 … base+2`,
    range: { min: PRIORITY_MIN, max: PRIORITY_MAX },
    description: 'Base priority of the policy rules of this interface.',
  },
  {
    name: 'rule_style',
    title: 'ESP exemption',
    help: 'How encrypted packets carrying the ESP packet mark are kept out of the tunnel\'s table.',
    type: 'string',
    list: false,
    default: 'exempt',
    code: 'INVALID_RULE_STYLE',
    group: 'routing',
    stock: false,
    format: '`exempt` (separate `fwmark … lookup main` rule) or `invert` (`not fwmark` on each rule)',
    values: ['exempt', 'invert'],
    description: 'How ESP/IKE packets carrying `exempt_mark` are kept out of the tunnel table.',
  },
  {
    name: 'exempt_mark',
    title: 'ESP packet mark',
    help: 'Firewall mark that the SAs put on the encrypted packets (their output mark, set_mark_out in swanctl.conf), so that these keep using the main table.',
    example: '0x6',
    type: 'string',
    list: false,
    code: 'INVALID_MARK',
    group: 'routing',
    stock: false,
    format: '`value[/mask]`, decimal or 0x-hex, mask default 0xffffffff',
    description: 'Firewall mark of the encrypted packets (the SA output mark), which must keep using the main table.',
  },
  {
    name: 'mark',
    title: 'Routed marks',
    help: 'Traffic carrying one of these firewall marks uses this interface\'s table, for example a CONNMARK per uplink.',
    example: '0x100/0xff00',
    type: 'array',
    list: true,
    code: 'INVALID_MARK',
    group: 'routing',
    stock: false,
    format: '`value[/mask]`, as `exempt_mark`',
    description: 'Firewall marks whose traffic is routed through this interface\'s table (e.g. per-upstream CONNMARK).',
  },
  {
    name: 'source',
    title: 'Source rules',
    help: 'Traffic from these source subnets uses this interface\'s table; add >destination to match only traffic to that subnet.',
    example: '192.168.5.0/24>10.0.0.0/8',
    type: 'array',
    list: true,
    code: 'INVALID_SOURCE',
    group: 'routing',
    stock: false,
    format: '`src-prefix` or `src-prefix>dst-prefix`, e.g. `192.168.5.0/24>10.0.0.0/8`',
    description: 'Traffic from these sources (optionally to a destination) uses this interface\'s table.',
  },
];

export const OPTION_BY_NAME: ReadonlyMap<string, OptionDef> = new Map(OPTIONS.map((o) => [o.name, o]));

/**
 * Options of every netifd interface section, or of other protos, that may appear
 * in a `proto 'xfrm'` section or in the config JSON netifd passes; not ours to
 * validate, and not UNKNOWN_OPTION on the standalone path.
 */
export const NETIFD_COMMON_OPTIONS: ReadonlySet<string> = new Set([
  'proto', 'auto', 'disabled', 'force_link', 'ifname', 'device', 'metric', 'peerdns', 'dns', 'dns_search',
  'dns_metric', 'ip6assign', 'ip6hint', 'ip6class', 'ip6ifaceid', 'ip6weight', 'ip6deprecated',
  'delegate', 'interface', 'macaddr', 'type', 'ipv6', 'sourcefilter', 'defaultroute', 'jail', 'jail_device',
  'jail_ifname', 'host_device', 'renew', 'tags', 'carrier_loss_delay',
]);

export interface DumpFlags {
  'no-device'?: boolean;
  'no-device-config'?: boolean;
  'no-proto-task'?: boolean;
  available?: boolean;
  'renew-handler'?: boolean;
  'restart-handler'?: boolean;
  'teardown-on-l3-link-down'?: boolean;
  lasterror?: boolean;
}

/** Flag keys in the order they are printed (fixed, whatever order the caller used). */
const FLAG_ORDER: ReadonlyArray<keyof DumpFlags> = [
  'no-device', 'no-device-config', 'no-proto-task', 'available', 'renew-handler', 'restart-handler',
  'teardown-on-l3-link-down', 'lasterror',
];

/**
 * The one JSON line the shim prints for `dump`. Flags only when true (netifd reads `true` only).
 * `no-proto-task`: the shim only queues the request and exits; netifd then waits for the
 * daemon's notify instead of tearing the interface down when the script ends.
 */
export function dumpLine(flags: DumpFlags = { 'no-device': true, 'no-proto-task': true, available: true }): string {
  const out: Record<string, unknown> = {
    name: 'xfrm',
    config: OPTIONS.map((o) => [o.name, BLOBMSG[o.type]]),
  };
  for (const k of FLAG_ORDER) if (flags[k] === true) out[k] = true;
  return JSON.stringify(out);
}
