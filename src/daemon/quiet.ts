// Work the daemon does once it has been quiet for a while after a burst (netifd setting up many
// interfaces at once, a resync): one timer, re-armed by every piece of work, never keeping the
// process alive.

export interface Quiet {
  /** some work was done: `fn` runs `ms` after the last one */
  poke(): void;
  close(): void;
}

export function whenQuiet(fn: () => void, ms: number): Quiet {
  let timer: NodeJS.Timeout | undefined;
  return {
    poke() {
      if (timer) timer.refresh();
      else {
        timer = setTimeout(() => {
          timer = undefined;
          fn();
        }, ms);
        timer.unref();
      }
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
