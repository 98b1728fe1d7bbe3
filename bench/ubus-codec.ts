// ubus codec throughput on a real message: the netifd `status` reply carried
// in c_call_status.json (DATA, ~700 bytes). Encode+decode = decodeMessage of
// the frame, decodeTableBody of its DATA, then encodeTableBody + encodeMessage
// back to a frame; formatJson =
// the `ubus call` rendering of that DATA. Best of 5 runs of ≥ 1 s each.
// Prints figures, never asserts.
import { decodeMessage, decodeTableBody, encodeMessage, encodeTableBody, MsgType } from '../src/ubus/wire.ts';
import { formatJsonBytes } from '../src/ubus/json.ts';
import { loadCaptureFile } from '../test/ubus/support-shared.ts';

const RUNS = 5;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

const frame = loadCaptureFile('c_call_status.json').frames.find((f) => f.dir === 's2c' && f.bytes[1] === MsgType.DATA && decodeMessage(f.bytes).attrs.data)!.bytes;
const data = decodeMessage(frame).attrs.data!;

let sink = 0;
function bestOf(fn: () => void): number {
  let best = 0;
  for (let run = 0; run < RUNS; run++) {
    let n = 0;
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    let now = t0;
    while (now < end) {
      for (let i = 0; i < 256; i++) fn();
      n += 256;
      now = performance.now();
    }
    best = Math.max(best, n / ((now - t0) / 1000));
  }
  return best;
}

const encodeDecode = bestOf(() => {
  const m = decodeMessage(frame);
  const table = decodeTableBody(m.attrs.data!);
  sink += encodeMessage({ ...m, attrs: { ...m.attrs, data: encodeTableBody(table) } }).length;
});
const format = bestOf(() => {
  sink += formatJsonBytes(data, { indent: 0 }).length;
});

console.log(`frame ${frame.length} bytes, DATA ${data.length} bytes, ${formatJsonBytes(data, { indent: 0 }).length} bytes of JSON (sink ${sink > 0 ? 'ok' : '?'})`);
console.log(`encode+decode: ${encodeDecode.toFixed(0)} messages/s, formatJson: ${format.toFixed(0)} /s (best of ${RUNS} × ${SECONDS} s)`);
console.log(`ubus-codec.encode_decode_per_s=${encodeDecode.toFixed(0)}`);
console.log(`ubus-codec.format_json_per_s=${format.toFixed(0)}`);
