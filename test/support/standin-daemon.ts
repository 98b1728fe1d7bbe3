// TEST/BENCH ONLY. `xfrmd run` exactly as shipped (src/cli/run.ts), on a kernel without XFRM
// interfaces: the stand-in kernel (standin-kernel.ts) creates veth pairs reported as xfrm. Bundled
// by the benchmarks into one file and run by plain node, as dist/xfrmd.cjs is on a router.
import { runDaemon } from '../../src/cli/run.ts';
import type { NetlinkKernel } from '../../src/netlink/kernel.ts';
import { StandinKernel } from './standin-kernel.ts';
import { release } from 'node:os';

void runDaemon(process.argv.slice(2), {
  wrapKernel: (k) => new StandinKernel(k as NetlinkKernel),
  probe: async () => ({ kernel: release(), xfrmInterface: true, collectMetadata: true, packetOffloadApi: false }),
}).then((code) => (process.exitCode = code));
