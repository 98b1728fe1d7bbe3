// XFRM netlink (NETLINK_XFRM, xfrm.h): SAs and policies keyed by if_id.
// Struct layouts are the kernel's on 64-bit-aligned ABIs (x86_64, arm, mips):
// xfrm_usersa_info 224 bytes, xfrm_userpolicy_info 168, xfrm_user_tmpl 64.
// (i386's 4-byte u64 alignment is the known XFRM compat hole; OpenWrt targets don't have it.)
import type { Family } from '../model.ts';
import { Attrs, MessageBuilder, type NlMessage } from './attrs.ts';
import { r16, r32, r64, w16, w32, w64 } from './host.ts';
import { afOf, bytesToIp, familyOf, familyOfAf, ipToBytes } from './ip.ts';
import { NLM_F_CREATE, NLM_F_EXCL, type NlSocket } from './socket.ts';

export const XFRM_MSG_NEWSA = 0x10;
export const XFRM_MSG_DELSA = 0x11;
export const XFRM_MSG_GETSA = 0x12;
export const XFRM_MSG_NEWPOLICY = 0x13;
export const XFRM_MSG_DELPOLICY = 0x14;
export const XFRM_MSG_GETPOLICY = 0x15;
const XFRM_MSG_EXPIRE = 0x18;
const XFRM_MSG_UPDPOLICY = 0x19;
const XFRM_MSG_UPDSA = 0x1a;
const XFRM_MSG_POLEXPIRE = 0x1b;
const XFRM_MSG_FLUSHSA = 0x1c;
const XFRM_MSG_FLUSHPOLICY = 0x1d;

/** What a notification on the XFRM multicast groups is about. */
export function eventKind(type: number): 'sa' | 'policy' | undefined {
  if ([XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_UPDSA, XFRM_MSG_EXPIRE, XFRM_MSG_FLUSHSA].includes(type)) return 'sa';
  if ([XFRM_MSG_NEWPOLICY, XFRM_MSG_DELPOLICY, XFRM_MSG_UPDPOLICY, XFRM_MSG_POLEXPIRE, XFRM_MSG_FLUSHPOLICY].includes(type)) return 'policy';
  return undefined;
}

const XFRMA_ALG_AUTH_TRUNC = 20;
const XFRMA_ALG_CRYPT = 2;
const XFRMA_ALG_AEAD = 18;
const XFRMA_TMPL = 5;
const XFRMA_MARK = 21;
const XFRMA_OFFLOAD_DEV = 28;
const XFRMA_SET_MARK = 29;
const XFRMA_SET_MARK_MASK = 30;
const XFRMA_IF_ID = 31;

const SA_INFO_LEN = 224;
const POLICY_INFO_LEN = 168;
const TMPL_LEN = 64;
const XFRM_INF = 0xffffffffffffffffn;
export const IPPROTO_ESP = 50;

export type XfrmMode = 'transport' | 'tunnel';
export type XfrmDir = 'in' | 'out' | 'fwd';
const MODES: XfrmMode[] = ['transport', 'tunnel'];
const DIRS: XfrmDir[] = ['in', 'out', 'fwd'];

export interface Prefix {
  addr: string;
  len: number;
}
export interface Mark {
  value: number;
  mask: number;
}

export interface XfrmSelector {
  family: Family;
  src: Prefix;
  dst: Prefix;
  /** IP protocol, 0 = any */
  proto?: number;
}

export interface SAConfig {
  src: string;
  dst: string;
  /** host number; sent in network order */
  spi: number;
  proto?: number;
  mode: XfrmMode;
  reqid?: number;
  ifId?: number;
  /** XFRMA_MARK: lookup key */
  mark?: Mark;
  /** XFRMA_SET_MARK (+ _MASK): output mark */
  setMark?: Mark;
  /** e.g. { name: 'rfc4106(gcm(aes))', key: 20 bytes (16 + 4 salt), icvBits: 128 } */
  aead?: { name: string; key: Buffer; icvBits: number };
  crypt?: { name: string; key: Buffer };
  auth?: { name: string; key: Buffer; truncBits: number };
  replayWindow?: number;
  /** selector; default any-to-any of the SA's family */
  sel?: XfrmSelector;
  /** XFRMA_OFFLOAD_DEV */
  offload?: { ifindex: number; inbound?: boolean; packet?: boolean };
}

export interface SAInfo {
  family: Family;
  src: string;
  dst: string;
  spi: number;
  proto: number;
  mode: XfrmMode;
  reqid: number;
  ifId: number;
  mark?: Mark;
  setMark?: Mark;
  offload?: { ifindex: number; flags: number };
  sel: XfrmSelector;
  /** lifetime counters (xfrm_lifetime_cur), host byte order */
  bytes: number;
  packets: number;
  addTime: number;
  useTime: number;
  stats: { replayWindow: number; replay: number; integrityFailed: number };
}

export interface PolicyTemplate {
  src: string;
  dst: string;
  proto?: number;
  mode: XfrmMode;
  reqid?: number;
  spi?: number;
}

export interface PolicyConfig {
  dir: XfrmDir;
  sel: XfrmSelector;
  priority?: number;
  action?: 'allow' | 'block';
  ifId?: number;
  mark?: Mark;
  tmpls?: PolicyTemplate[];
}

export interface PolicyInfo {
  dir: XfrmDir;
  sel: XfrmSelector;
  priority: number;
  index: number;
  action: 'allow' | 'block';
  ifId: number;
  mark?: Mark;
  tmpls: PolicyTemplate[];
  bytes: number;
  packets: number;
}

function putAddr(b: Buffer, off: number, addr: string): void {
  ipToBytes(addr).copy(b, off);
}

function getAddr(b: Buffer, off: number, family: Family): string {
  return bytesToIp(b.subarray(off, off + (family === 4 ? 4 : 16)), family);
}

function writeSelector(b: Buffer, off: number, s: XfrmSelector): void {
  putAddr(b, off, s.dst.addr);
  putAddr(b, off + 16, s.src.addr);
  w16(b, afOf(s.family), off + 40);
  b[off + 42] = s.dst.len;
  b[off + 43] = s.src.len;
  b[off + 44] = s.proto ?? 0;
}

function readSelector(b: Buffer, off: number): XfrmSelector {
  const family = familyOfAf(r16(b, off + 40)) ?? 4;
  return {
    family,
    dst: { addr: getAddr(b, off, family), len: b[off + 42] ?? 0 },
    src: { addr: getAddr(b, off + 16, family), len: b[off + 43] ?? 0 },
    proto: b[off + 44] ?? 0,
  };
}

const anySelector = (f: Family): XfrmSelector => {
  const any = f === 4 ? '0.0.0.0' : '::';
  return { family: f, src: { addr: any, len: 0 }, dst: { addr: any, len: 0 } };
};

function writeInfiniteLifetime(b: Buffer, off: number): void {
  for (let i = 0; i < 4; i++) w64(b, XFRM_INF, off + i * 8); // byte/packet limits; times stay 0
}

function markAttr(m: MessageBuilder, type: number, mk: Mark): void {
  const b = Buffer.alloc(8);
  w32(b, mk.value, 0);
  w32(b, mk.mask, 4);
  m.attr(type, b);
}

function readMark(a: Attrs): Mark | undefined {
  const b = a.get(XFRMA_MARK);
  return b && b.length >= 8 ? { value: r32(b, 0), mask: r32(b, 4) } : undefined;
}

function algo(name: string, key: Buffer, extra?: number): Buffer {
  // xfrm_algo{,_aead,_auth}: name[64], key_len (bits), [icv_len|trunc_len], key
  const head = extra === undefined ? 68 : 72;
  const b = Buffer.alloc(head + key.length);
  b.write(name, 0, 63, 'utf8');
  w32(b, key.length * 8, 64);
  if (extra !== undefined) w32(b, extra, 68);
  key.copy(b, head);
  return b;
}

export function saMessage(c: SAConfig): MessageBuilder {
  const family = familyOf(c.dst);
  const m = new MessageBuilder(XFRM_MSG_NEWSA, NLM_F_CREATE | NLM_F_EXCL, SA_INFO_LEN);
  const b = m.fixed;
  writeSelector(b, 0, c.sel ?? anySelector(family));
  putAddr(b, 56, c.dst);
  b.writeUInt32BE(c.spi >>> 0, 72);
  b[76] = c.proto ?? IPPROTO_ESP;
  putAddr(b, 80, c.src);
  writeInfiniteLifetime(b, 96);
  w32(b, c.reqid ?? 0, 208);
  w16(b, afOf(family), 212);
  b[214] = MODES.indexOf(c.mode);
  b[215] = c.replayWindow ?? 32;
  if (c.aead) m.attr(XFRMA_ALG_AEAD, algo(c.aead.name, c.aead.key, c.aead.icvBits));
  if (c.crypt) m.attr(XFRMA_ALG_CRYPT, algo(c.crypt.name, c.crypt.key));
  if (c.auth) m.attr(XFRMA_ALG_AUTH_TRUNC, algo(c.auth.name, c.auth.key, c.auth.truncBits));
  if (c.mark) markAttr(m, XFRMA_MARK, c.mark);
  if (c.setMark) {
    m.u32(XFRMA_SET_MARK, c.setMark.value);
    m.u32(XFRMA_SET_MARK_MASK, c.setMark.mask);
  }
  if (c.ifId) m.u32(XFRMA_IF_ID, c.ifId);
  if (c.offload) {
    const o = Buffer.alloc(8);
    w32(o, c.offload.ifindex, 0);
    o[4] = (family === 6 ? 1 : 0) | (c.offload.inbound ? 2 : 0) | (c.offload.packet ? 4 : 0);
    m.attr(XFRMA_OFFLOAD_DEV, o);
  }
  return m;
}

export function decodeSA(msg: NlMessage): SAInfo | undefined {
  const b = msg.data;
  if (b.length < SA_INFO_LEN) return undefined;
  const family = familyOfAf(r16(b, 212)) ?? 4;
  const a = Attrs.parse(b, SA_INFO_LEN);
  const sa: SAInfo = {
    family,
    dst: getAddr(b, 56, family),
    spi: b.readUInt32BE(72),
    proto: b[76] ?? 0,
    src: getAddr(b, 80, family),
    mode: MODES[b[214] ?? 0] ?? 'transport',
    reqid: r32(b, 208),
    ifId: a.u32(XFRMA_IF_ID) ?? 0,
    sel: readSelector(b, 0),
    bytes: Number(r64(b, 160)),
    packets: Number(r64(b, 168)),
    addTime: Number(r64(b, 176)),
    useTime: Number(r64(b, 184)),
    stats: { replayWindow: r32(b, 192), replay: r32(b, 196), integrityFailed: r32(b, 200) },
  };
  const mark = readMark(a);
  if (mark) sa.mark = mark;
  const sm = a.u32(XFRMA_SET_MARK);
  if (sm !== undefined) sa.setMark = { value: sm, mask: a.u32(XFRMA_SET_MARK_MASK) ?? 0xffffffff };
  const off = a.get(XFRMA_OFFLOAD_DEV);
  if (off && off.length >= 5) sa.offload = { ifindex: r32(off, 0), flags: off[4] ?? 0 };
  return sa;
}

export function policyMessage(p: PolicyConfig): MessageBuilder {
  const m = new MessageBuilder(XFRM_MSG_NEWPOLICY, NLM_F_CREATE | NLM_F_EXCL, POLICY_INFO_LEN);
  const b = m.fixed;
  writeSelector(b, 0, p.sel);
  writeInfiniteLifetime(b, 56);
  w32(b, p.priority ?? 0, 152);
  b[160] = DIRS.indexOf(p.dir);
  b[161] = p.action === 'block' ? 1 : 0;
  if (p.tmpls?.length) {
    const t = Buffer.alloc(TMPL_LEN * p.tmpls.length);
    p.tmpls.forEach((x, i) => {
      const o = i * TMPL_LEN;
      putAddr(t, o, x.dst);
      t.writeUInt32BE((x.spi ?? 0) >>> 0, o + 16);
      t[o + 20] = x.proto ?? IPPROTO_ESP;
      w16(t, afOf(familyOf(x.dst)), o + 24);
      putAddr(t, o + 28, x.src);
      w32(t, x.reqid ?? 0, o + 44);
      t[o + 48] = MODES.indexOf(x.mode);
      // any algorithm (as ip xfrm does)
      w32(t, 0xffffffff, o + 52);
      w32(t, 0xffffffff, o + 56);
      w32(t, 0xffffffff, o + 60);
    });
    m.attr(XFRMA_TMPL, t);
  }
  if (p.mark) markAttr(m, XFRMA_MARK, p.mark);
  if (p.ifId) m.u32(XFRMA_IF_ID, p.ifId);
  return m;
}

export function decodePolicy(msg: NlMessage): PolicyInfo | undefined {
  const b = msg.data;
  if (b.length < POLICY_INFO_LEN) return undefined;
  const a = Attrs.parse(b, POLICY_INFO_LEN);
  const tmpls: PolicyTemplate[] = [];
  const t = a.get(XFRMA_TMPL);
  for (let o = 0; t && o + TMPL_LEN <= t.length; o += TMPL_LEN) {
    const f = familyOfAf(r16(t, o + 24)) ?? 4;
    tmpls.push({
      dst: getAddr(t, o, f),
      spi: t.readUInt32BE(o + 16),
      proto: t[o + 20] ?? 0,
      src: getAddr(t, o + 28, f),
      reqid: r32(t, o + 44),
      mode: MODES[t[o + 48] ?? 0] ?? 'transport',
    });
  }
  const p: PolicyInfo = {
    sel: readSelector(b, 0),
    dir: DIRS[b[160] ?? 0] ?? 'in',
    priority: r32(b, 152),
    index: r32(b, 156),
    action: b[161] === 1 ? 'block' : 'allow',
    ifId: a.u32(XFRMA_IF_ID) ?? 0,
    tmpls,
    bytes: Number(r64(b, 120)),
    packets: Number(r64(b, 128)),
  };
  const mark = readMark(a);
  if (mark) p.mark = mark;
  return p;
}

export async function addSA(s: NlSocket, c: SAConfig): Promise<void> {
  await s.request(saMessage(c), `XFRM_MSG_NEWSA ${c.src}->${c.dst} spi 0x${c.spi.toString(16)}${c.ifId ? ` if_id ${c.ifId}` : ''}`);
}

export async function deleteSA(s: NlSocket, k: { dst: string; spi: number; proto?: number; mark?: Mark; ifId?: number }): Promise<void> {
  const m = new MessageBuilder(XFRM_MSG_DELSA, 0, 24);
  putAddr(m.fixed, 0, k.dst);
  m.fixed.writeUInt32BE(k.spi >>> 0, 16);
  w16(m.fixed, afOf(familyOf(k.dst)), 20);
  m.fixed[22] = k.proto ?? IPPROTO_ESP;
  if (k.mark) markAttr(m, XFRMA_MARK, k.mark);
  if (k.ifId) m.u32(XFRMA_IF_ID, k.ifId);
  await s.request(m, `XFRM_MSG_DELSA ${k.dst} spi 0x${k.spi.toString(16)}`);
}

export async function dumpSAs(s: NlSocket, f: { ifId?: number } = {}): Promise<SAInfo[]> {
  const out: SAInfo[] = [];
  for (const msg of await s.dump(new MessageBuilder(XFRM_MSG_GETSA, 0, 0), 'XFRM_MSG_GETSA dump')) {
    if (msg.type !== XFRM_MSG_NEWSA) continue;
    const sa = decodeSA(msg);
    if (sa && (f.ifId === undefined || sa.ifId === f.ifId)) out.push(sa);
  }
  return out;
}

export async function addPolicy(s: NlSocket, p: PolicyConfig): Promise<void> {
  await s.request(policyMessage(p), `XFRM_MSG_NEWPOLICY ${p.dir} ${p.sel.src.addr}/${p.sel.src.len}->${p.sel.dst.addr}/${p.sel.dst.len}${p.ifId ? ` if_id ${p.ifId}` : ''}`);
}

/** Deletes by selector + dir (+ mark, if_id), the way the kernel keys policies. */
export async function deletePolicy(s: NlSocket, p: { dir: XfrmDir; sel: XfrmSelector; mark?: Mark; ifId?: number }): Promise<void> {
  const m = new MessageBuilder(XFRM_MSG_DELPOLICY, 0, 64);
  writeSelector(m.fixed, 0, p.sel);
  m.fixed[60] = DIRS.indexOf(p.dir);
  if (p.mark) markAttr(m, XFRMA_MARK, p.mark);
  if (p.ifId) m.u32(XFRMA_IF_ID, p.ifId);
  await s.request(m, `XFRM_MSG_DELPOLICY ${p.dir} ${p.sel.src.addr}/${p.sel.src.len}->${p.sel.dst.addr}/${p.sel.dst.len}`);
}

export async function dumpPolicies(s: NlSocket, f: { ifId?: number } = {}): Promise<PolicyInfo[]> {
  const out: PolicyInfo[] = [];
  for (const msg of await s.dump(new MessageBuilder(XFRM_MSG_GETPOLICY, 0, 0), 'XFRM_MSG_GETPOLICY dump')) {
    if (msg.type !== XFRM_MSG_NEWPOLICY) continue;
    const p = decodePolicy(msg);
    if (p && (f.ifId === undefined || p.ifId === f.ifId)) out.push(p);
  }
  return out;
}
