// Call round trips per second through the in-process test broker: one caller,
// one object owner, sequential and pipelined (32 in flight).
import { TestBroker } from '../test/support/broker.ts';
import { UbusClient } from '../src/ubus/client.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

const broker = await TestBroker.start();
const owner = new UbusClient({ socketPath: broker.socketPath, reconnect: false });
const caller = new UbusClient({ socketPath: broker.socketPath, reconnect: false });
await owner.connect();
await caller.connect();
await owner.addObject('bench', { ping: (req) => ({ pong: req.data['n'] ?? 0 }) });
const id = await caller.lookupId('bench');

async function run(inFlight: number): Promise<number> {
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await caller.call(id, 'ping', { n });
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return n / ((performance.now() - t0) / 1000);
}

await run(1); // warm up the JIT
const seq = await run(1);
const pipe = await run(32);
console.log(`sequential: ${seq.toFixed(0)} calls/s, pipelined x32: ${pipe.toFixed(0)} calls/s (${SECONDS} s each)`);
console.log(`ubus-rtt.calls_per_s=${seq.toFixed(0)}`);
console.log(`ubus-rtt.pipelined_calls_per_s=${pipe.toFixed(0)}`);
owner.close();
caller.close();
await broker.close();
