/**
 * The names lifetrace's data is grouped by, which the dashboard shows (a chart line, a colour per
 * name): the probe families and the kinds of kernel objects it follows. Defined here, once, so that
 * the browser can type its tables by them; families/catalog.ts and model/objects.ts re-export them.
 */

export const FAMILIES = ['file', 'epoll', 'dcache', 'fsnotify', 'tracefs', 'syscalls'] as const;
export type Family = (typeof FAMILIES)[number];

export const OBJECT_KINDS = ['file', 'dentry', 'epitem', 'epoll', 'mark', 'eventfs'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];
