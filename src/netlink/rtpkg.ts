// Glue to the `netlink` package's pure-JS rtnetlink encoders/parsers. Deep imports
// only (dist/structs.js, dist/rt/*.js need nothing but node:os): the package's index
// would load its native binding, which we replace with our addon (native.ts).
// Structs and attributes are in host byte order there too (os.endianness()). Its nests carry
// no NLA_F_NESTED and its nest lengths are unpadded; rtnetlink accepts both (kernel-checked).
import { AttrStream, type StreamData } from 'netlink/dist/structs.js';
import { MessageBuilder } from './attrs.ts';

/** A request whose body (fixed struct + attributes) the package formats; framing is ours. */
export function pkgMessage(type: number, flags: number, format: (out: AttrStream) => void): MessageBuilder {
  const out = new AttrStream();
  format(out);
  return new MessageBuilder(type, flags).parts(out.bufs);
}

/** Encodes stream data (e.g. formatInfo(…)) into one buffer, for attributes the package types as raw Buffer. */
export function streamBuffer(data: StreamData): Buffer {
  const out = new AttrStream();
  out.emit(data);
  return Buffer.concat(out.bufs);
}

/** The package's parsers turn known enum values into their names: back to the number. */
export function enumValue<E extends Record<string, string | number>>(e: E, v: number | keyof E | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = e[v];
  return typeof n === 'number' ? n : 0;
}
