// What this kernel can do, found out at start by trying it in a private,
// empty network namespace (nothing on the host is touched): XFRM interfaces,
// external (collect_md) mode. Like libreswan's runtime check, not a guess from
// the kernel config — but without creating anything where users can see it.
import { release } from 'node:os';
import { errorText } from '../errors.ts';
import { Netlink } from '../netlink/index.ts';
import { isKernelError } from '../reconcile/kernel.ts';

export interface Capabilities {
  kernel: string;
  xfrmInterface: boolean;
  /** IFLA_XFRM_COLLECT_METADATA accepted (6.1+) */
  collectMetadata: boolean;
  /** XFRM_OFFLOAD_PACKET exists in this kernel's API (6.2+); the NIC decides the rest */
  packetOffloadApi: boolean;
  /** the sentence to show when XFRM interfaces are missing */
  hint?: string;
}

const NO_SUPPORT_HINT = 'this kernel cannot create XFRM interfaces (CONFIG_XFRM_INTERFACE): install kmod-xfrm-interface';

function atLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

export async function probeCapabilities(): Promise<Capabilities> {
  const kernel = release();
  const caps: Capabilities = { kernel, xfrmInterface: false, collectMetadata: false, packetOffloadApi: atLeast(kernel, 6, 2) };
  let nl: Netlink | undefined;
  try {
    nl = Netlink.open({ netns: '@new' });
    try {
      await nl.createXfrmLink({ name: 'probe0', ifId: 1, link: 0, collectMetadata: false, mtu: 1280, multicast: false });
      caps.xfrmInterface = true;
    } catch (e) {
      if (!isKernelError(e) || !(e.code === 'EOPNOTSUPP' || /Unknown device type/i.test(e.extack ?? ''))) throw e;
      caps.hint = NO_SUPPORT_HINT;
      return caps;
    }
    try {
      await nl.createXfrmLink({ name: 'probe1', ifId: 0, link: 0, collectMetadata: true, mtu: 1280, multicast: false });
      caps.collectMetadata = true;
    } catch {
      caps.collectMetadata = false;
    }
    return caps;
  } catch (e) {
    caps.hint = `capability probe failed: ${errorText(e)}`;
    return caps;
  } finally {
    // The namespace, and the devices in it, go away with the socket.
    nl?.close();
  }
}
