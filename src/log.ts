// One logger for the whole daemon: one JSON object per line on stdout (procd hands it to
// logread), in pino's layout (level number, ISO time, name, fields, msg), which tools and our
// tests read. Every line about an interface carries `iface`, so `logread | grep` finds all of
// it (child loggers do that). Our own few lines instead of pino: pino and what it loads
// (worker threads, sonic-boom, redaction) cost the daemon 4 MB of memory, and a child logger
// per interface cost more than the rest of its setup.
import { openSync, writeSync } from 'node:fs';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type Level = keyof typeof LEVELS;

interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  readonly level: Level;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** the same logger with these fields on every line */
  child(bindings: Record<string, unknown>): Logger;
}

/** An Error as pino writes it: type, message, stack and its own fields (code, status…). */
function errorFields(e: Error): Record<string, unknown> {
  return { ...e, type: e.constructor.name, message: e.message, stack: e.stack };
}

function replacer(_key: string, v: unknown): unknown {
  return v instanceof Error ? errorFields(v) : v;
}

/** `fields` as the inside of a JSON object ("a":1,"b":2), or '' */
function inner(fields: object): string {
  const s = JSON.stringify(fields, replacer);
  return s.length > 2 ? s.slice(1, -1) : '';
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Date.toISOString() of `ms`, by arithmetic: V8 loads ICU's time zone data (640 kB of the
 *  daemon's memory) at the first `new Date()`. Days to civil date: H. Hinnant's algorithm. */
export function isoTime(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  const t = ms - days * 86_400_000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${y}-${pad(m)}-${pad(d)}T${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}Z`;
}

// Methods on the prototype: a daemon holds a child logger per interface.
class JsonLogger implements Logger {
  private readonly min: number;

  constructor(
    readonly level: Level,
    private readonly out: (line: string) => void,
    /** the bindings, already as JSON members, each after a comma */
    private readonly bound: string,
  ) {
    this.min = LEVELS[level];
  }

  private write(n: number, a: object | string, msg?: string): void {
    if (n < this.min) return;
    let line = `{"level":${n},"time":"${isoTime(Date.now())}","name":"xfrmd"${this.bound}`;
    const fields = typeof a === 'string' ? '' : inner(a);
    if (fields) line += ',' + fields;
    const text = typeof a === 'string' ? a : msg;
    if (text !== undefined) line += `,"msg":${JSON.stringify(text)}`;
    this.out(line + '}\n');
  }

  trace(a: object | string, msg?: string): void {
    this.write(10, a, msg);
  }
  debug(a: object | string, msg?: string): void {
    this.write(20, a, msg);
  }
  info(a: object | string, msg?: string): void {
    this.write(30, a, msg);
  }
  warn(a: object | string, msg?: string): void {
    this.write(40, a, msg);
  }
  error(a: object | string, msg?: string): void {
    this.write(50, a, msg);
  }
  fatal(a: object | string, msg?: string): void {
    this.write(60, a, msg);
  }

  child(bindings: Record<string, unknown>): Logger {
    const b = inner(bindings);
    return new JsonLogger(this.level, this.out, b ? `${this.bound},${b}` : this.bound);
  }
}

function levelOf(s: string): Level {
  return s in LEVELS ? (s as Level) : 'info';
}

/** Plain writes to a file descriptor, in order; what a full non-blocking pipe refuses waits for
 *  the next line or a short timer (process.stdout would cost the daemon 1.4 MB: it builds a
 *  stream over the pipe). */
function fdWriter(fd: number): (line: string) => void {
  let backlog = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    while (backlog) {
      try {
        const n = writeSync(fd, backlog);
        backlog = Buffer.byteLength(backlog) === n ? '' : Buffer.from(backlog).subarray(n).toString();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') backlog = '';
        else timer ??= setTimeout(flush, 50).unref();
        return;
      }
    }
  };
  return (line) => {
    backlog += line;
    if (!timer) flush();
  };
}

/** `file`: append there instead of stdout. */
export function createLogger(level: string = process.env.XFRMD_LOG_LEVEL ?? 'info', file?: string): Logger {
  return new JsonLogger(levelOf(level), fdWriter(file === undefined ? 1 : openSync(file, 'a')), '');
}

/** A logger that drops everything: for tests and one-shot CLI commands. */
export const silentLogger: Logger = new JsonLogger('silent', () => {}, '');
