/**
 * The syscalls family (the fallback without kprobes): its fd-level records only. They are turned into
 * the file and epoll families' events by lifetime/fdtable.ts's FdModel, so they have no description
 * and no lifetime effect of their own.
 */
export * from './events.js';
