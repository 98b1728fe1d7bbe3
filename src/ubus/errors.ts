// Typed ubus errors. `status` is the wire status code (UBUS_STATUS_*), `statusName`
// its symbolic name, and `cliText` the sentence the C `ubus` CLI prints for it
// (libubus ubus_strerror), so `xfrmd ubus …` can print the same messages.

const NAMES = [
  'OK',
  'INVALID_COMMAND',
  'INVALID_ARGUMENT',
  'METHOD_NOT_FOUND',
  'NOT_FOUND',
  'NO_DATA',
  'PERMISSION_DENIED',
  'TIMEOUT',
  'NOT_SUPPORTED',
  'UNKNOWN_ERROR',
  'CONNECTION_FAILED',
  'NO_MEMORY',
  'PARSE_ERROR',
  'SYSTEM_ERROR',
] as const;

const CLI_TEXT = [
  'Success',
  'Invalid command',
  'Invalid argument',
  'Method not found',
  'Not found',
  'No response',
  'Permission denied',
  'Request timed out',
  'Operation not supported',
  'Unknown error',
  'Connection failed',
  'Out of memory',
  'Parsing message data failed',
  'System error',
] as const;

/** Status codes as numbers, usable without the codec module. */
export const Status = {
  OK: 0,
  INVALID_COMMAND: 1,
  INVALID_ARGUMENT: 2,
  METHOD_NOT_FOUND: 3,
  NOT_FOUND: 4,
  NO_DATA: 5,
  PERMISSION_DENIED: 6,
  TIMEOUT: 7,
  NOT_SUPPORTED: 8,
  UNKNOWN_ERROR: 9,
  CONNECTION_FAILED: 10,
  NO_MEMORY: 11,
  PARSE_ERROR: 12,
  SYSTEM_ERROR: 13,
} as const;

export function ubusStatusName(status: number): string {
  return NAMES[status] ?? `STATUS_${status}`;
}

/** The text the C CLI prints ("Command failed: … (<text>)"). */
export function ubusStrerror(status: number): string {
  return CLI_TEXT[status] ?? 'Unknown error';
}

export class UbusError extends Error {
  readonly status: number;
  readonly statusName: string;
  readonly cliText: string;

  constructor(status: number, detail?: string, opts: { cause?: unknown } = {}) {
    const name = ubusStatusName(status);
    super(detail ? `${name}: ${detail}` : name, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UbusError';
    this.status = status;
    this.statusName = name;
    this.cliText = ubusStrerror(status);
  }
}

/** The status to put on the wire for an error a handler threw. */
export function statusOfError(e: unknown): number {
  if (e instanceof UbusError) return e.status;
  return Status.UNKNOWN_ERROR;
}
