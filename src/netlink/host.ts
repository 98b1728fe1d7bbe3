// Netlink headers, attributes and kernel structs are in host byte order: OpenWrt
// runs on big-endian MIPS too, so never hard-code LE. Network-order fields (SPI,
// ports, addresses) use the BE accessors explicitly.
import { endianness } from 'node:os';

const LE = endianness() === 'LE';

export const r16 = (b: Buffer, o: number): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
export const r32 = (b: Buffer, o: number): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
export const ri32 = (b: Buffer, o: number): number => (LE ? b.readInt32LE(o) : b.readInt32BE(o));
export const r64 = (b: Buffer, o: number): bigint => (LE ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
export const w16 = (b: Buffer, v: number, o: number): void => void (LE ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
export const w32 = (b: Buffer, v: number, o: number): void => void (LE ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
export const wi32 = (b: Buffer, v: number, o: number): void => void (LE ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o));
export const w64 = (b: Buffer, v: bigint, o: number): void => void (LE ? b.writeBigUInt64LE(v, o) : b.writeBigUInt64BE(v, o));
