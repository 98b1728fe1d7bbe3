// blobmsg (spec §5-§6) under the brief's names, over wire.ts/json.ts, which the
// connection and CLI already use. Mapping as blobmsg_json: INT8 → boolean,
// INT16/32/64 signed, INT64 outside the safe range → bigint, UNSPEC → null.
// Duplicate names: decodeTableBody keeps the last value (json-c's object_add);
// decodeTableEntries keeps them all, in wire order.

import { formatJsonValue, parseJsonArgs } from './json.ts';
import type { JsonValue, Table, TableInput } from './wire.ts';

export { BlobmsgType, Typed, int8, int16, int32, int64, double, bool, string, encodeTableBody, decodeTableBody, decodeTableEntries } from './wire.ts';
export type { JsonValue, Table, TableEntry, BlobValue as BlobmsgInput } from './wire.ts';
export { JsonArgsError as JsonParseError, encodeJsonArgs, formatJsonBytes, formatDoubleC } from './json.ts';

/** blobmsg_format_json as `ubus call` (indent: tabs) or `ubus listen` (compact) prints it. */
export function formatJson(v: Table, opts: { indent: boolean }): string {
  return formatJsonValue(v, { indent: opts.indent ? 0 : false });
}

/** Like blobmsg_add_json_from_string; throws JsonParseError. Prefer encodeJsonArgs for wire order of integer-like keys. */
export function parseJsonToBlobmsg(text: string): TableInput {
  return parseJsonArgs(text);
}

export type { JsonValue as BlobmsgJson };
