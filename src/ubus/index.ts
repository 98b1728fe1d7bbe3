// Public surface of the ubus binding: a plain re-export list (append lines only).
export * from './errors.ts';
export * from './blob.ts';
export * from './blobmsg.ts';
export * from './message.ts';
export * from './connection.ts';
export * from './client.ts';
export * from './object.ts';
export * from './events.ts';
export * from './subscriber.ts';
