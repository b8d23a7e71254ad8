/** probes/tracefs.bt: eventfs directories (6.6+) and tracefs removal. */
import { family, record } from '../../decode/spec.js';

export const tracefsSpec = family('tracefs', [
  record({ tag: 'efs_new', fn: 'eventfs_create_dir', kind: 'eventfs.create', fields: { ei: 'addr', name: 'rest' } }),
  record({ tag: 'efs_rm', fn: 'eventfs_remove_dir', kind: 'eventfs.remove', fields: { ei: 'addr', name: 'rest' } }),
  record({ tag: 'efs_lookup', fn: 'eventfs_root_lookup', kind: 'eventfs.lookup', fields: { ei: 'addr', dir: 'addr', name: 'rest' } }),
  record({ tag: 'efs_open', fn: 'tracing_open_file_tr', kind: 'eventfs.open', fields: { ei: 'addr', dentry: 'addr', file: 'addr' } }),
  record({ tag: 'tfs_rm', fn: 'tracefs_remove', kind: 'tracefs.remove', fields: { dentry: 'addr', parent: 'addr' } }),
]);
