/** Every rule lifetrace knows, in report order. */
import { dcacheReaddirVsDelete } from './dcache-readdir-vs-delete.js';
import { dentryLingeringAfterRemoval } from './dentry-lingering-after-removal.js';
import { dentryUseAfterRemoval } from './dentry-use-after-removal.js';
import { epollCrossProcessDel } from './epoll-cross-process-del.js';
import { epollCtlVsFinalFput } from './epoll-ctl-vs-final-fput.js';
import { epollPollOnDyingFile } from './epoll-poll-on-dying-file.js';
import { epollReapedByFinalFput } from './epoll-reaped-by-final-fput.js';
import { epollStaleFd } from './epoll-stale-fd.js';
import { fsnotifyLongPermissionWait } from './fsnotify-long-permission-wait.js';
import { fsnotifyMarkTeardownDuringWait } from './fsnotify-mark-teardown-during-wait.js';
import { lifetimeUseAfterFree } from './lifetime-use-after-free.js';
import type { Rule } from './rule.js';

export const RULES: readonly Rule[] = [
  epollCrossProcessDel,
  epollStaleFd,
  epollReapedByFinalFput,
  epollPollOnDyingFile,
  epollCtlVsFinalFput,
  dcacheReaddirVsDelete,
  fsnotifyMarkTeardownDuringWait,
  fsnotifyLongPermissionWait,
  dentryUseAfterRemoval,
  dentryLingeringAfterRemoval,
  lifetimeUseAfterFree,
];

export function findRule(id: string): Rule | undefined {
  return RULES.find((r) => r.id === id);
}
