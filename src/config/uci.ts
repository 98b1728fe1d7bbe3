// The UCI file format (/etc/config/network), for `xfrmd apply <file>` without
// a running netifd:
//
//   package network                 (optional)
//   config <type> ['<name>']        anonymous when the name is left out
//   option <key> '<value>'
//   list <key> '<value>'            repeated: a list
//   # comment                       (a '#' where a word would start)
//
// Words are blank-separated; a word can be made of pieces: '…' (taken as is,
// may span lines), "…" (backslash escapes the next character; backslash-newline
// continues the line) and bare text (backslash escapes the next character).
// `'it'\''s'` is one word. Like libuci, a second `config` with the same type
// and name continues that section, `list` after `option` turns it into a list,
// and `option` after `list` replaces it.
import type { RawConfig } from './validate.ts';

export interface UciSection {
  type: string;
  /** the name, or `@type[i]` for the i-th anonymous section of that type */
  name: string;
  anonymous: boolean;
  /** line of the `config` statement */
  line: number;
  options: Record<string, string | string[]>;
}

export interface UciFile {
  package?: string;
  sections: UciSection[];
}

export class UciParseError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'UciParseError';
    this.line = line;
  }
}

interface Word {
  text: string;
  line: number;
}

/** Split into statements: arrays of words, each statement ending at an unquoted newline. */
function tokenize(src: string): Word[][] {
  const statements: Word[][] = [];
  let words: Word[] = [];
  let line = 1;
  let i = 0;
  const n = src.length;
  const endStatement = () => {
    if (words.length) statements.push(words);
    words = [];
  };
  while (i < n) {
    const ch = src[i] as string;
    if (ch === '\n') {
      endStatement();
      line++;
      i++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      i++;
      continue;
    }
    if (ch === '\\' && src[i + 1] === '\n') {
      // continuation between words
      line++;
      i += 2;
      continue;
    }
    if (ch === '#') {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    // a word, made of pieces
    const startLine = line;
    let text = '';
    while (i < n) {
      const c = src[i] as string;
      if (c === "'") {
        const open = line;
        i++;
        while (i < n && src[i] !== "'") {
          if (src[i] === '\n') line++;
          text += src[i];
          i++;
        }
        if (i >= n) throw new UciParseError(open, 'unterminated single quote');
        i++;
      } else if (c === '"') {
        const open = line;
        i++;
        while (i < n && src[i] !== '"') {
          if (src[i] === '\\' && i + 1 < n) {
            const next = src[i + 1] as string;
            i += 2;
            if (next === '\n') {
              line++;
              continue;
            }
            text += next;
            continue;
          }
          if (src[i] === '\n') line++;
          text += src[i];
          i++;
        }
        if (i >= n) throw new UciParseError(open, 'unterminated double quote');
        i++;
      } else if (c === '\\') {
        if (i + 1 >= n) throw new UciParseError(line, 'backslash at the end of the file');
        const next = src[i + 1] as string;
        i += 2;
        if (next === '\n') line++;
        else text += next;
      } else if (/[ \t\r\n\f\v]/.test(c)) {
        break;
      } else {
        text += c;
        i++;
      }
    }
    words.push({ text, line: startLine });
  }
  endStatement();
  return statements;
}

const NAME = /^[A-Za-z0-9_]+$/;
const TYPE = /^[A-Za-z0-9_-]+$/;

function checkArgs(st: Word[], min: number, max: number, usage: string): void {
  const first = st[0] as Word;
  if (st.length - 1 < min) throw new UciParseError(first.line, `'${first.text}' needs ${usage}`);
  if (st.length - 1 > max) throw new UciParseError((st[max + 1] as Word).line, `too many words after '${first.text}' (expected ${usage}; quote values that contain blanks)`);
}

export function parseUci(text: string): UciFile {
  const out: UciFile = { sections: [] };
  const byName = new Map<string, UciSection>();
  const anonCount = new Map<string, number>();
  let current: UciSection | undefined;
  for (const st of tokenize(text)) {
    const kw = st[0] as Word;
    switch (kw.text) {
      case 'package': {
        checkArgs(st, 1, 1, 'a package name');
        if (out.sections.length) throw new UciParseError(kw.line, "'package' must come before the first section");
        out.package = (st[1] as Word).text;
        break;
      }
      case 'config': {
        checkArgs(st, 1, 2, 'a type and optionally a name');
        const type = (st[1] as Word).text;
        if (!TYPE.test(type)) throw new UciParseError(kw.line, `invalid section type '${safe(type)}' (letters, digits, _ and -)`);
        const nameWord = st[2];
        if (nameWord && !NAME.test(nameWord.text)) throw new UciParseError(nameWord.line, `invalid section name '${safe(nameWord.text)}' (letters, digits and _ only)`);
        if (nameWord) {
          const prev = byName.get(nameWord.text);
          if (prev) {
            if (prev.type !== type) throw new UciParseError(kw.line, `section '${nameWord.text}' was declared with type '${prev.type}' on line ${prev.line}`);
            current = prev;
            break;
          }
          current = { type, name: nameWord.text, anonymous: false, line: kw.line, options: {} };
          byName.set(nameWord.text, current);
        } else {
          const idx = anonCount.get(type) ?? 0;
          anonCount.set(type, idx + 1);
          current = { type, name: `@${type}[${idx}]`, anonymous: true, line: kw.line, options: {} };
        }
        out.sections.push(current);
        break;
      }
      case 'option':
      case 'list': {
        checkArgs(st, 2, 2, 'a name and a value');
        if (!current) throw new UciParseError(kw.line, `'${kw.text}' outside of a section`);
        const key = (st[1] as Word).text;
        if (!NAME.test(key)) throw new UciParseError(kw.line, `invalid option name '${safe(key)}' (letters, digits and _ only)`);
        const value = (st[2] as Word).text;
        if (kw.text === 'option') current.options[key] = value;
        else {
          const prev = current.options[key];
          current.options[key] = prev === undefined ? [value] : Array.isArray(prev) ? [...prev, value] : [prev, value];
        }
        break;
      }
      default:
        throw new UciParseError(kw.line, `unknown statement '${safe(kw.text)}' (expected package, config, option or list)`);
    }
  }
  return out;
}

/** Control characters and non-ASCII shown escaped in parse errors. */
function safe(s: string): string {
  const shown = Array.from(s).slice(0, 40).map((ch) => {
    const cp = ch.codePointAt(0) ?? 0;
    return cp >= 0x20 && cp <= 0x7e && ch !== "'" ? ch : `\\u{${cp.toString(16)}}`;
  });
  return shown.join('') + (Array.from(s).length > 40 ? '…' : '');
}

export interface UciInterface {
  section: string;
  line: number;
  raw: RawConfig;
}

/** The `config interface` sections with `option proto '<proto>'`, as raw configs for validation. */
export function interfacesWithProto(file: UciFile, proto = 'xfrm'): UciInterface[] {
  return file.sections
    .filter((s) => s.type === 'interface' && s.options.proto === proto)
    .map((s) => ({ section: s.name, line: s.line, raw: { ...s.options } }));
}
