// formatJson (libubox blobmsg_format_json, byte exact) and parseJsonArgs /
// encodeJsonArgs (blobmsg_add_json_from_string), checked against the captures.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobmsgType, decodeMessage, decodeTableEntries, double, encodeTableBody, int16, int32, int64, int8, Typed } from '../../src/ubus/wire.ts';
import { encodeJsonArgs, formatDoubleC, formatJson, formatJsonBytes, formatJsonElementBytes, JsonArgsError, JsonFormatError, parseJsonArgs } from '../../src/ubus/json.ts';
import { cliOutputDir, loadCaptureFile } from './support-shared.ts';

const pad4 = (n: number): number => (n + 3) & ~3;
function attr(type: number, name: string, value: Buffer, ext = true): Buffer {
  const n = Buffer.from(name);
  const hdr = Buffer.alloc(pad4(2 + n.length + 1));
  hdr.writeUInt16BE(n.length);
  n.copy(hdr, 2);
  const payload = Buffer.concat([hdr, value]);
  const b = Buffer.alloc(pad4(4 + payload.length));
  b.writeUInt32BE(((ext ? 0x80000000 : 0) | (type << 24) | (4 + payload.length)) >>> 0);
  payload.copy(b, 4);
  return b;
}
const be32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const compact = (body: Buffer): string => formatJson(body);
const indented = (body: Buffer): string => formatJson(body, { indent: 0 });

/** The DATA payload of the first message in a capture matching type/direction. */
function captured(file: string, dir: 'c2s' | 's2c', type: number, nth = 0): Buffer {
  const hits = loadCaptureFile(file).frames.filter((f) => f.dir === dir && f.bytes[1] === type);
  const d = decodeMessage(hits[nth]!.bytes).attrs.data;
  if (!d) throw new Error('no DATA');
  return d;
}

describe('formatJson', () => {
  it('prints the captured echo reply exactly as `ubus call` did (cli-output/call-echo.txt)', () => {
    const body = captured('f_client_call_echo.json', 's2c', 2, 1);
    const txt = readFileSync(join(cliOutputDir(), 'call-echo.txt'), 'utf8').split('\n');
    const expected = txt.slice(1, txt.indexOf('[exit 0]')).join('\n');
    expect(indented(body)).toBe(expected);
    // the typed entries of wire.ts give the same text for this reply
    expect(formatJson(decodeTableEntries(body), { indent: 0 })).toBe(expected);
  });

  it('prints the compact `ubus listen` form (cli-output/listen.txt)', () => {
    const body = encodeJsonArgs('{"a":1,"b":[true,"s"],"c":{"d":-5}}');
    expect(`{ "cap.one": ${compact(body)} }`).toBe(readFileSync(join(cliOutputDir(), 'listen.txt'), 'utf8').split('\n')[1]);
    expect(compact(captured('e_listen.json', 's2c', 5))).toBe('{"a":1}');
  });

  it('formats the netifd status reply from c_call_status', () => {
    const out = indented(captured('c_call_status.json', 's2c', 2, 1));
    expect(out.startsWith('{\n\t"up": true,\n\t"pending": false,\n')).toBe(true);
    expect(out).toContain('\t"ipv4-address": [\n\t\t{\n\t\t\t"address": "192.0.2.10",\n\t\t\t"mask": 24\n\t\t}\n\t],\n');
    expect(out).toContain('\t"ipv6-address": [\n\t\t\n\t],\n');
    expect(out.endsWith('\t"data": {\n\t\t"demo": "hello"\n\t}\n}')).toBe(true);
  });

  it('integers: INT16/32 signed, INT64 exact beyond 2^53, u32 ids ≥ 2^31 sent as INT32 print negative', () => {
    const body = encodeTableBody({
      i16: int16(-2),
      i32: int32(-2147483648),
      id: int32(3000000000 | 0),
      big: int64(9007199254740993n),
      min: int64(-(2n ** 63n)),
      max: int64(2n ** 63n - 1n),
      small64: int64(5),
      b0: int8(0),
      b5: int8(5),
    });
    expect(compact(body)).toBe(
      '{"i16":-2,"i32":-2147483648,"id":-1294967296,"big":9007199254740993,"min":-9223372036854775808,"max":9223372036854775807,"small64":5,"b0":false,"b5":true}',
    );
  });

  it('doubles print like C %lf (exact value, round half to even)', () => {
    const f = (x: number): string => compact(encodeTableBody({ x: double(x) }));
    expect(f(3.5)).toBe('{"x":3.500000}');
    expect(f(2)).toBe('{"x":2.000000}');
    expect(f(0.0078125)).toBe('{"x":0.007812}'); // an exact tie: even
    expect(f(0.0234375)).toBe('{"x":0.023438}');
    expect(f(-0)).toBe('{"x":-0.000000}');
    expect(f(1e21)).toBe('{"x":1000000000000000000000.000000}');
    expect(f(0.1)).toBe('{"x":0.100000}');
    expect(f(-1.0000005)).toBe('{"x":-1.000001}'); // binary value is just above the tie
    expect(f(1.0000015)).toBe('{"x":1.000001}'); // … and this one just below
    expect(f(Infinity)).toBe('{"x":inf}');
    expect(f(-Infinity)).toBe('{"x":-inf}');
    expect(f(NaN)).toBe('{"x":nan}');
    expect(compact(attr(8, 'x', Buffer.from('fff8000000000000', 'hex')))).toBe('{"x":-nan}');
    expect(formatDoubleC(Number.MAX_VALUE)).toBe(`${(2n ** 1024n - 2n ** 971n).toString()}.000000`);
    expect(formatDoubleC(5e-324)).toBe('0.000000');
  });

  it('escapes strings and names like blobmsg_format_string', () => {
    const s = 'q"b\\s/n\nt\tr\rb\bf\fc\x01\x1f\x7fé€';
    expect(compact(encodeTableBody({ [s]: s }))).toBe(
      '{"q\\"b\\\\s/n\\nt\\tr\\rb\\bf\\u000cc\\u0001\\u001f\x7fé€":"q\\"b\\\\s/n\\nt\\tr\\rb\\bf\\u000cc\\u0001\\u001f\x7fé€"}',
    );
    // strings stop at the first NUL; invalid UTF-8 goes out raw
    const raw = attr(3, 'r', Buffer.from([0x61, 0xff, 0x00, 0x62, 0x00]));
    expect(formatJsonBytes(raw)).toEqual(Buffer.from([0x7b, 0x22, 0x72, 0x22, 0x3a, 0x22, 0x61, 0xff, 0x22, 0x7d]));
  });

  it('empty containers, null, empty names and the 15-tab indentation cap', () => {
    expect(indented(encodeTableBody({ t: {}, a: [], n: null }))).toBe('{\n\t"t": {\n\t\t\n\t},\n\t"a": [\n\t\t\n\t],\n\t"n": null\n}');
    expect(indented(Buffer.alloc(0))).toBe('{\n\t\n}');
    expect(compact(Buffer.alloc(0))).toBe('{}');
    expect(compact(encodeTableBody({ '': 1, x: 2 }))).toBe('{1,"x":2}');
    let v: Record<string, unknown> | number = 1;
    for (let i = 0; i < 20; i++) v = { k: v };
    const deep = indented(encodeTableBody(v as Record<string, never>));
    expect(Math.max(...deep.split('\n').map((l) => /^\t*/.exec(l)![0].length))).toBe(15);
    expect(formatJson(encodeTableBody({ x: 1 }), { indent: 2 })).toBe('{\n\t\t\t"x": 1\n\t\t}');
  });

  it('invalid entries print nothing but keep their separator (libubox quirk)', () => {
    const bad32 = attr(5, 'b', Buffer.from([0, 0, 1])); // INT32 with 3 bytes
    const badType = attr(9, 'c', Buffer.alloc(4)); // type > DOUBLE
    const noNul = attr(3, 's', Buffer.from('ab')); // STRING without NUL
    const body = Buffer.concat([attr(5, 'a', be32(1)), bad32, badType, noNul, attr(5, 'z', be32(2))]);
    expect(compact(body)).toBe('{"a":1,,,,"z":2}');
    expect(indented(Buffer.concat([bad32, attr(5, 'a', be32(1))]))).toBe('{\n\t,\n\t"a": 1\n}');
    // wire.ts drops the same entries
    expect(decodeTableEntries(body).map((e) => e.name)).toEqual(['a', 'z']);
  });

  it('DOUBLE needs at least 8 bytes (libubox), longer is read from its first 8', () => {
    expect(compact(attr(8, 'd', Buffer.from('400c00000000000000000000', 'hex')))).toBe('{"d":3.500000}');
    expect(compact(attr(8, 'd', Buffer.from('400c', 'hex')))).toBe('{}');
  });

  it('custom type names as `ubus -v list` prints them', () => {
    const m = attr(2, 'echo', Buffer.concat([attr(5, 'msg', be32(3)), attr(5, 'n', be32(5)), attr(5, 'x', be32(4)), attr(3, 's', Buffer.from('v\0'))]));
    const names: Record<number, string> = { 1: 'Array', 2: 'Table', 3: 'String', 5: 'Integer', 7: 'Boolean' };
    const custom = (type: number, v: Buffer): string | undefined => (type === BlobmsgType.INT32 ? `"${names[v.readUInt32BE(0)] ?? '(unknown)'}"` : undefined);
    expect(formatJsonElementBytes(m, { custom }).toString()).toBe('"echo":{"msg":"String","n":"Integer","x":"(unknown)","s":"v"}');
  });

  it('refuses pathological nesting with its typed error only', () => {
    let b: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 5000; i++) b = attr(1, '', b);
    expect(() => formatJsonBytes(b)).toThrow(JsonFormatError);
  });
});

describe('parseJsonArgs / encodeJsonArgs', () => {
  it('number typing: int32 range → INT32, other integers → INT64 (lossless), others → DOUBLE', () => {
    const t = parseJsonArgs(
      '{"a":2147483647,"b":2147483648,"c":-2147483648,"d":-2147483649,"e":9007199254740993,"f":-9223372036854775808,' +
        '"g":9223372036854775808,"h":18446744073709551616,"i":1.0,"j":1e3,"k":-0,"l":0.5}',
    );
    const show = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v instanceof Typed ? [v.type, v.value] : v]));
    expect(show).toEqual({
      a: [5, 2147483647],
      b: [4, 2147483648n],
      c: [5, -2147483648],
      d: [4, -2147483649n],
      e: [4, 9007199254740993n],
      f: [4, -(2n ** 63n)],
      g: [4, 2n ** 63n - 1n], // json-c: uint64, read back as int64 saturated
      h: [8, 18446744073709551616],
      i: [8, 1],
      j: [8, 1000],
      k: [5, 0],
      l: [8, 0.5],
    });
  });

  it('bools → INT8, null → UNSPEC, strings, nested tables and arrays', () => {
    const body = encodeJsonArgs(' { "t": true, "f": false, "n": null, "s": "x\\u0041\\n", "o": {"a": [1, "b", [], {}]} } ');
    const e = decodeTableEntries(body);
    expect(e.map((x) => [x.name, x.type])).toEqual([['t', 7], ['f', 7], ['n', 0], ['s', 3], ['o', 2]]);
    expect(compact(body)).toBe('{"t":true,"f":false,"n":null,"s":"xA\\n","o":{"a":[1,"b",[],{}]}}');
    expect(encodeTableBody(parseJsonArgs('{"t":true,"n":null,"o":{"a":[1]}}'))).toEqual(encodeJsonArgs('{"t":true,"n":null,"o":{"a":[1]}}'));
  });

  it('keeps key order (also integer-like keys), a repeated key keeps its first place and last value, strings stop at NUL', () => {
    expect(compact(encodeJsonArgs('{"b":1,"1":2,"a":{"z":1,"0":2}}'))).toBe('{"b":1,"1":2,"a":{"z":1,"0":2}}');
    expect(compact(encodeJsonArgs('{"a":1,"b":2,"a":3}'))).toBe('{"a":3,"b":2}');
    expect(compact(encodeJsonArgs('{"s":"ab\\u0000cd"}'))).toBe('{"s":"ab"}');
    expect(Object.keys(parseJsonArgs('{"__proto__":1}'))).toEqual(['__proto__']);
  });

  it('bad JSON and non-object tops are JsonArgsError (PARSE_ERROR)', () => {
    for (const bad of ['{bad', '', '[1]', '"s"', '1', 'null', '{"a":}', '{"a":1,}', '{"a" 1}', '{"a":01}', '{"a":1} x', '{"a":"\u0001"}', '{"a":tru}', '{"a":"\\x"}', '{"a":-}', '[', '{"a":[1,]}']) {
      expect(() => parseJsonArgs(bad), bad).toThrow(JsonArgsError);
      try {
        encodeJsonArgs(bad);
      } catch (e) {
        expect((e as JsonArgsError).status).toBe(12);
      }
    }
    expect(() => parseJsonArgs('['.repeat(5000))).toThrow(JsonArgsError);
  });

  it('encodes the same bytes the C ubus CLI sent in the captures', () => {
    const cases: [string, string][] = [
      ['f_client_call_echo.json', '{"msg":"hi","n":42}'],
      ['g_notify_trigger.json', '{"n":5}'],
      ['i_notify_proto_bad_action.json', '{"interface":"demo","action":99}'],
      ['i_notify_proto_no_action.json', '{"interface":"demo"}'],
      ['i_notify_proto_no_linkup.json', '{"interface":"demo","action":0}'],
      ['i_notify_proto_no_such_iface.json', '{"interface":"nosuch","action":0}'],
      ['i_notify_proto_static_iface.json', '{"interface":"loopback","action":0,"link-up":true}'],
      ['i_notify_proto_no_interface.json', '{"action":0}'],
    ];
    for (const [file, json] of cases) expect(encodeJsonArgs(json).toString('hex'), file).toBe(captured(file, 'c2s', 5).toString('hex'));
  });
});
