// Event listeners: one anonymous object per listen() call, registered with the
// built-in event object (id 1) for each pattern. ubusd delivers an event at
// most once per object, so one callback sees each event once.
import type { UbusTable } from './object.ts';

export type EventCallback = (event: string, data: UbusTable) => void | Promise<void>;

/** Object id of ubusd's built-in event object. */
export const UBUS_EVENT_OBJECT = 1;

/** ubusd's pattern rule: exact, or a plain prefix with a trailing `*`. */
export function eventPatternMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

export class EventListener {
  readonly patterns: readonly string[];
  /** anonymous object id on the current connection */
  id: number | undefined;
  readonly callback: EventCallback;
  private readonly onClose: (l: EventListener) => Promise<void>;

  constructor(patterns: readonly string[], callback: EventCallback, onClose: (l: EventListener) => Promise<void>) {
    this.patterns = patterns;
    this.callback = callback;
    this.onClose = onClose;
  }

  /** Stops listening (removes the anonymous object). */
  close(): Promise<void> {
    return this.onClose(this);
  }
}
