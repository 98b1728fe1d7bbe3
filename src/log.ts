// One logger for the whole daemon. Every line about an interface carries
// `iface`, so `logread | grep` finds all of it (child loggers do that).
import { pino, type Logger } from 'pino';

export type { Logger };

/** `file`: append there (synchronously) instead of stdout. */
export function createLogger(level: string = process.env.XFRMD_LOG_LEVEL ?? 'info', file?: string): Logger {
  const opts = { name: 'xfrmd', level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  return file === undefined ? pino(opts) : pino(opts, pino.destination({ dest: file, sync: true, append: true }));
}

/** A logger that drops everything: for tests and one-shot CLI commands. */
export const silentLogger: Logger = pino({ level: 'silent' });
