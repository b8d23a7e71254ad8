import { tmpdir } from 'node:os';

/** stress-ng workloads aimed at each thread's window. */
export const STRESS_PRESETS = {
  epoll: { about: 'epoll_ctl and close races (threads 000, 001)', args: ['--epoll', '2', '--close', '1', '--dup', '1'] },
  dentry: { about: 'dentry churn and getdents (thread 003)', args: ['--dentry', '2', '--getdent', '1'] },
  notify: { about: 'inotify and fanotify (thread 002)', args: ['--inotify', '1', '--fanotify', '1'] },
  pty: { about: 'pty open and close against directory listings (thread 003)', args: ['--pty', '2', '--getdent', '1'] },
  all: {
    about: 'all of the above at once',
    args: ['--epoll', '1', '--close', '1', '--dentry', '1', '--getdent', '1', '--inotify', '1', '--fanotify', '1', '--pty', '1'],
  },
} as const;

export type StressPreset = keyof typeof STRESS_PRESETS;

export function isStressPreset(s: string): s is StressPreset {
  return Object.hasOwn(STRESS_PRESETS, s);
}

/** stress-ng writes its scratch files in --temp-path; the guest's cwd is read-only, so never the cwd. */
export function stressArgs(preset: StressPreset, seconds: number, yamlOut?: string): string[] {
  return [
    ...STRESS_PRESETS[preset].args,
    '--timeout',
    `${seconds}s`,
    '--temp-path',
    tmpdir(),
    '--metrics-brief',
    ...(yamlOut ? ['--yaml', yamlOut] : []),
  ];
}
