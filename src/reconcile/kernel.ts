// The kernel as the reconciler sees it. src/netlink implements it for real
// (see netlink-kernel.ts); tests may pass an in-memory double. Keeping this
// narrow is what lets the planner/reconciler be exercised without a kernel.
import type { AddressSpec, RouteSpec, RuleSpec, XfrmLinkSpec } from '../model.ts';

export interface LinkState {
  name: string;
  index: number;
  /** IFLA_INFO_KIND, e.g. "xfrm", "veth"; undefined for kind-less devices */
  kind: string | undefined;
  up: boolean;
  mtu: number;
  multicast: boolean;
  /** decoded IFLA_INFO_DATA for kind "xfrm" */
  xfrm?: { ifId: number; link: number; collectMetadata: boolean };
}

export interface EspOffload {
  /** esp-hw-offload active */
  hwOffload: boolean;
  /** esp-tx-csum-hw-offload active */
  txCsumOffload: boolean;
}

/** An SA as status reports it (the IKE daemon installs them; we only read). */
export interface SaState {
  family: 4 | 6;
  src: string;
  dst: string;
  spi: number;
  proto: number;
  mode: string;
  reqid: number;
  ifId: number;
  bytes: number;
  packets: number;
  /** XFRMA_SET_MARK: the output mark the encrypted packets get */
  outputMark?: { value: number; mask: number };
  /** XFRMA_OFFLOAD_DEV */
  offload?: { ifindex: number; inbound: boolean; packet: boolean };
}

export interface PolicyState {
  dir: 'in' | 'out' | 'fwd';
  src: { addr: string; len: number };
  dst: { addr: string; len: number };
  action: 'allow' | 'block';
  priority: number;
  ifId: number;
  /** the tunnel endpoints of its templates */
  tmpls: Array<{ src: string; dst: string }>;
}

/** Errors from the kernel layer carry the errno code so callers can branch on it. */
export interface KernelError extends Error {
  code: string;
  errno?: number;
  extack?: string;
}

export function isKernelError(e: unknown, code?: string): e is KernelError {
  return e instanceof Error && typeof (e as Partial<KernelError>).code === 'string' && (code === undefined || (e as KernelError).code === code);
}

export interface Kernel {
  getLink(name: string): Promise<LinkState | undefined>;
  getLinkByIndex(index: number): Promise<LinkState | undefined>;
  listLinks(): Promise<LinkState[]>;
  /** CREATE|EXCL; resolves to the new link. `up` asks for IFF_UP in the creating message
   *  (saves a setLink); an implementation may ignore it: the returned state tells. */
  createXfrmLink(spec: XfrmLinkSpec, o?: { up?: boolean }): Promise<LinkState>;
  deleteLink(index: number): Promise<void>;
  setLink(index: number, change: { up?: boolean; mtu?: number; multicast?: boolean }): Promise<void>;

  dumpAddresses(index: number): Promise<AddressSpec[]>;
  addAddress(a: AddressSpec): Promise<void>;
  deleteAddress(a: AddressSpec): Promise<void>;

  /** routes carrying `protocol` (all tables); every route without one */
  dumpRoutes(protocol?: number): Promise<RouteSpec[]>;
  /** EEXIST when a route with the same key exists; `replace` takes it over instead */
  addRoute(r: RouteSpec, o?: { replace?: boolean }): Promise<void>;
  deleteRoute(r: RouteSpec): Promise<void>;

  /** rules carrying `protocol` */
  dumpRules(protocol: number): Promise<RuleSpec[]>;
  addRule(r: RuleSpec): Promise<void>;
  deleteRule(r: RuleSpec): Promise<void>;

  /** ESP offload features of a device, undefined when ethtool netlink is unavailable */
  espOffload(dev: string): Promise<EspOffload | undefined>;

  /** every SA and policy (status filters them by if_id) */
  xfrmState(): Promise<{ sas: SaState[]; policies: PolicyState[] }>;
}
