// ethtool over generic netlink: ETHTOOL_MSG_FEATURES_GET, to see whether a NIC can
// offload ESP. The family id is resolved by name (CTRL_CMD_GETFAMILY) and cached.
// ethtool's policy is strict: nested attributes must carry NLA_F_NESTED (MessageBuilder.nest does).
import { Attrs, MessageBuilder } from './attrs.ts';
import { NetlinkError } from './errors.ts';
import type { NlSocket } from './socket.ts';

const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const ETHTOOL_MSG_FEATURES_GET = 11;
const ETHTOOL_A_FEATURES_HEADER = 1;
const ETHTOOL_A_FEATURES_HW = 2;
const ETHTOOL_A_FEATURES_WANTED = 3;
const ETHTOOL_A_FEATURES_ACTIVE = 4;
const ETHTOOL_A_HEADER_DEV_NAME = 2;
const ETHTOOL_A_BITSET_NOMASK = 1;
const ETHTOOL_A_BITSET_BITS = 3;
const ETHTOOL_A_BITSET_BITS_BIT = 1;
const ETHTOOL_A_BITSET_BIT_NAME = 2;
const ETHTOOL_A_BITSET_BIT_VALUE = 3;

export const ESP_FEATURES = ['esp-hw-offload', 'esp-tx-csum-hw-offload'] as const;
export type EspFeature = (typeof ESP_FEATURES)[number];

export interface FeatureState {
  /** the device can do it (hw_features) */
  hw: boolean;
  /** the user asked for it */
  wanted: boolean;
  /** it is on */
  active: boolean;
}

export interface Features {
  /** names of the features in each set */
  hw: Set<string>;
  wanted: Set<string>;
  active: Set<string>;
  esp: Record<EspFeature, FeatureState>;
}

function genlHeader(cmd: number, version: number): Buffer {
  return Buffer.from([cmd, version, 0, 0]);
}

export async function resolveFamily(s: NlSocket, name: string): Promise<number | undefined> {
  const m = new MessageBuilder(GENL_ID_CTRL, 0, genlHeader(CTRL_CMD_GETFAMILY, 1)).str(CTRL_ATTR_FAMILY_NAME, name);
  try {
    const r = await s.request(m, `CTRL_CMD_GETFAMILY ${name}`);
    return r[0] ? Attrs.parse(r[0].data, 4).u16(CTRL_ATTR_FAMILY_ID) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENOENT') return undefined; // kernel without ethtool netlink (< 5.6)
    throw e;
  }
}

/** Verbose bitset (no ETHTOOL_FLAG_COMPACT_BITSETS): the names of the bits that are set. */
function bitsetNames(a: Attrs | undefined): Set<string> {
  const out = new Set<string>();
  if (!a) return out;
  const nomask = a.has(ETHTOOL_A_BITSET_NOMASK);
  for (const [type, data] of a.nested(ETHTOOL_A_BITSET_BITS)?.list ?? []) {
    if (type !== ETHTOOL_A_BITSET_BITS_BIT) continue;
    const bit = Attrs.parse(data);
    const name = bit.str(ETHTOOL_A_BITSET_BIT_NAME);
    if (name && (nomask || bit.has(ETHTOOL_A_BITSET_BIT_VALUE))) out.add(name);
  }
  return out;
}

export async function getFeatures(s: NlSocket, family: number, dev: string): Promise<Features> {
  const m = new MessageBuilder(family, 0, genlHeader(ETHTOOL_MSG_FEATURES_GET, 1));
  m.nest(ETHTOOL_A_FEATURES_HEADER, (h) => h.str(ETHTOOL_A_HEADER_DEV_NAME, dev));
  const r = await s.request(m, `ETHTOOL_MSG_FEATURES_GET ${dev}`);
  const a = r[0] ? Attrs.parse(r[0].data, 4) : new Attrs();
  const hw = bitsetNames(a.nested(ETHTOOL_A_FEATURES_HW));
  const wanted = bitsetNames(a.nested(ETHTOOL_A_FEATURES_WANTED));
  const active = bitsetNames(a.nested(ETHTOOL_A_FEATURES_ACTIVE));
  const state = (f: string): FeatureState => ({ hw: hw.has(f), wanted: wanted.has(f), active: active.has(f) });
  return { hw, wanted, active, esp: { 'esp-hw-offload': state('esp-hw-offload'), 'esp-tx-csum-hw-offload': state('esp-tx-csum-hw-offload') } };
}
