// Errors a user can act on. `code` is stable (scripts and LuCI match on it, netifd
// shows it in `ifstatus … errors`); `message` is the sentence for a human.
export class XfrmdError extends Error {
  readonly code: string;
  /** true when a retry cannot help (bad config): netifd must not restart the setup */
  readonly permanent: boolean;

  constructor(code: string, message: string, opts: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'XfrmdError';
    this.code = code;
    this.permanent = opts.permanent ?? true;
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
