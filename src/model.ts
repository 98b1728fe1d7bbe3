// The kernel objects xfrmd manages, as plain data. The planner (config → plan)
// produces these; the reconciler compares them with what the netlink layer dumps
// and the netlink layer encodes them. Names follow the kernel headers
// (if_link.h, rtnetlink.h, fib_rules.h) so a reader can go from here to there.

export type Family = 4 | 6;

/** Our tag on every route and rule we install (rtm_protocol / FRA_PROTOCOL), so we
 *  can find them again after a crash. Unassigned in rtnetlink.h and iproute2's rt_protos. */
export const XFRMD_RTPROT = 0x58; // 88, 'X'

/** An XFRM interface (IFLA_INFO_KIND "xfrm"). */
export interface XfrmLinkSpec {
  name: string;
  /** IFLA_XFRM_IF_ID, 1..0xffffffff (0 only with collectMetadata). */
  ifId: number;
  /** IFLA_XFRM_LINK: parent ifindex, 0 = none. */
  link: number;
  /** IFLA_XFRM_COLLECT_METADATA ("external"). */
  collectMetadata: boolean;
  mtu: number;
  /** IFF_MULTICAST */
  multicast: boolean;
}

/** An address on a device (RTM_NEWADDR). */
export interface AddressSpec {
  family: Family;
  /** e.g. "10.0.0.1" or "fd00::1" */
  address: string;
  prefixLen: number;
  /** device name; the netlink layer resolves it to an ifindex */
  dev: string;
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';

/** A route (RTM_NEWROUTE). */
export interface RouteSpec {
  family: Family;
  /** destination prefix, e.g. "0.0.0.0" with dstLen 0 for default */
  dst: string;
  dstLen: number;
  /** table id, 1..0xffffffff (RTA_TABLE when > 255) */
  table: number;
  type: RouteType;
  /** output device name (absent for blackhole & co.) */
  dev?: string;
  gateway?: string;
  /** RTA_PREFSRC */
  prefsrc?: string;
  /** RTA_PRIORITY */
  metric?: number;
  /** RTAX_MTU */
  mtu?: number;
  /** rtm_protocol; XFRMD_RTPROT for everything we install */
  protocol: number;
}

/** A policy routing rule (RTM_NEWRULE). */
export interface RuleSpec {
  family: Family;
  priority: number;
  /** FR_ACT_TO_TBL target; omitted for other actions */
  table?: number;
  action: 'lookup' | 'blackhole' | 'unreachable' | 'prohibit';
  src?: { addr: string; len: number };
  dst?: { addr: string; len: number };
  fwmark?: number;
  fwmask?: number;
  iif?: string;
  oif?: string;
  /** FIB_RULE_INVERT ("not") */
  invert?: boolean;
  suppressPrefixLength?: number;
  /** FRA_PROTOCOL; XFRMD_RTPROT for everything we install */
  protocol: number;
}
