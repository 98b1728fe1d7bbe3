// Showing user-supplied values in messages without letting them do anything:
// everything outside printable ASCII is escaped (control characters, bidi
// overrides, newlines, other unicode), long values are cut, and the result is
// single-quoted so shell-looking text reads as a value, never as a command.

const MAX_SHOWN = 64;

function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (ch === '\\') return '\\\\';
  if (ch === "'") return "\\'";
  if (cp >= 0x20 && cp <= 0x7e) return ch;
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/** A string as `'…'`, safe to put into a log line or an error sentence. */
export function quote(s: string): string {
  const chars = Array.from(s);
  const shown = chars.slice(0, MAX_SHOWN).map(escapeChar).join('');
  const cut = chars.length > MAX_SHOWN ? `…' (${chars.length} characters)` : "'";
  return `'${shown}${cut}`;
}

/** Any JSON-ish value, for "got …" in messages. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const items = v.slice(0, 4).map(describeValue);
    return `[${items.join(', ')}${v.length > 4 ? `, … (${v.length} entries)` : ''}]`;
  }
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}
