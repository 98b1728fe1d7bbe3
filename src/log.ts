// One logger for the whole daemon. Every line about an interface carries
// `iface`, so `logread | grep` finds all of it (child loggers do that).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.XFRMD_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'xfrmd', level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything: for tests and one-shot CLI commands. */
export const silentLogger: Logger = pino({ level: 'silent' });
