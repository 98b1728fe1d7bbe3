// Typed kernel errors: errno number and name, the kernel's extended-ack text and
// which operation failed. Satisfies src/reconcile/kernel.ts KernelError.
import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) if (!names.has(num)) names.set(num, name);
// glibc/musl alias pairs where the kernel's canonical name is the one people grep for
names.set(95, 'EOPNOTSUPP');
names.set(11, 'EAGAIN');

export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

export class NetlinkError extends Error {
  /** positive errno, e.g. 17 */
  readonly errno: number;
  /** errno name, e.g. "EEXIST"; "ETIMEDOUT" for our own request timeout */
  readonly code: string;
  /** NLMSGERR_ATTR_MSG from the kernel (NETLINK_EXT_ACK), e.g. "if_id must be non zero" */
  readonly extack: string | undefined;
  /** what we asked for, e.g. "RTM_NEWROUTE 10.0.0.0/24 table 100" */
  readonly op: string;

  constructor(errno: number, op: string, extack?: string, detail?: string) {
    const code = errnoName(errno);
    super(`${op}: ${code}${extack ? ` (${extack})` : ''}${detail ? `: ${detail}` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
    this.extack = extack || undefined;
    this.op = op;
  }
}

export function isNetlinkError(e: unknown, code?: string): e is NetlinkError {
  return e instanceof NetlinkError && (code === undefined || e.code === code);
}
