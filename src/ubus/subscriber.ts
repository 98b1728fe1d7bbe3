// Subscriptions to another client's object. Unlike libubus we keep them alive:
// when the target vanishes (UNSUBSCRIBE from ubusd) or ubusd restarts, the
// client subscribes again as soon as an object with the same path appears.
import { EventEmitter } from 'node:events';
import type { UbusTable } from './object.ts';

/** One notification from the object we subscribed to. */
export interface Notification {
  /** the notification type (ubus METHOD), also the callback's first argument */
  readonly type: string;
  readonly data: UbusTable;
  /** the notifier's user and group names */
  readonly user: string | undefined;
  readonly group: string | undefined;
  /** the notifier's client id */
  readonly peer: number;
  /** the notifier does not wait for our status */
  readonly noReply: boolean;
}

/** Return a status (or nothing = OK; a thrown UbusError gives its status) for notifications that want a reply. */
export type NotifyCallback = (type: string, n: Notification) => number | void | Promise<number | void>;

export interface SubscriptionEvents {
  /** subscribed (again) to the object with this id */
  subscribed: [number];
  /** the target went away; we resubscribe when its path reappears */
  removed: [];
}

export class Subscription extends EventEmitter<SubscriptionEvents> {
  readonly path: string;
  /** our anonymous subscriber object id on the current connection */
  id: number | undefined;
  /** the target's id while subscribed */
  targetId: number | undefined;
  readonly onNotify: NotifyCallback;
  private readonly onClose: (s: Subscription) => Promise<void>;
  closed = false;

  constructor(path: string, onNotify: NotifyCallback, onClose: (s: Subscription) => Promise<void>) {
    super();
    this.path = path;
    this.onNotify = onNotify;
    this.onClose = onClose;
  }

  /** True while ubusd has us subscribed to the target. */
  get active(): boolean {
    return this.targetId !== undefined;
  }

  /** Unsubscribes and forgets the subscription. */
  close(): Promise<void> {
    return this.onClose(this);
  }
}
