/** `lifetrace kernel`: build (once) and list the guest kernels that have a historical bug back in. */
import { BUGS, bugKernel, cachedKernel, isBugName, type BugName } from '../vm/build-kernel.js';
import { err, ok } from '../support/result.js';
import { parse, type CommandResult, type Print } from './args.js';

export const KERNEL_USAGE = `usage: lifetrace kernel build [--bug NAME] [--jobs N] [--keep-tree]
       lifetrace kernel list [--json]

build   builds, from Debian's linux-source-6.1 (apt-get install linux-source-6.1 dwarves flex bison
        libelf-dev libssl-dev bc), a small kernel for 'capture --vm --kernel PATH' with the fix named
        by --bug reverted (without --bug: the same kernel with every fix, the control), and caches it
        under ~/.cache/lifetrace/kernels (LIFETRACE_CACHE). A cached kernel is reused. Progress goes
        to stderr; the last line on stdout is the bzImage's path. The build tree (in /var/tmp, or
        LIFETRACE_KBUILD_DIR) is removed afterwards unless --keep-tree.
list    the bugs, what each reverts, the rule that must catch it, and the cached image if built

bugs: ${Object.values(BUGS)
  .map((b) => `${b.name} (reverts ${b.reverts.commit} in ${b.func}(); caught by ${b.caughtBy.rule})`)
  .join('; ')}`;

export async function kernelCommand(argv: string[], print: Print): Promise<CommandResult> {
  const [sub, ...rest] = argv;
  const args = parse(
    rest,
    {
      bug: { type: 'string' },
      jobs: { type: 'string' },
      'keep-tree': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    KERNEL_USAGE,
  );
  if (!args.ok) return args;
  const { values, positionals } = args.value;
  if (values.help || sub === '--help' || sub === '-h' || sub === 'help') {
    print(`${KERNEL_USAGE}\n`);
    return ok(0);
  }
  if (positionals.length > 0) return err(`unexpected ${JSON.stringify(positionals[0])}\n\n${KERNEL_USAGE}`);
  const bug = values.bug;
  if (bug !== undefined && !isBugName(bug)) return err(`unknown bug ${JSON.stringify(bug)}; bugs: ${Object.keys(BUGS).join(', ')}`);
  if (sub === 'build') {
    const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
    if (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0))
      return err(`--jobs needs a positive integer, got ${JSON.stringify(values.jobs)}`);
    const k = await bugKernel(bug, {
      log: (s) => process.stderr.write(`${s}\n`),
      ...(jobs ? { jobs } : {}),
      keepTree: values['keep-tree'] === true,
    });
    if (!k.ok) return k;
    print(`${k.value.image}\n`);
    return ok(0);
  }
  if (sub === 'list') {
    const specs = [...Object.values(BUGS), undefined];
    const cached = await Promise.all(specs.map((b) => cachedKernel(b?.name as BugName | undefined)));
    const done: { spec: (typeof specs)[number]; image: string | null }[] = [];
    for (const [i, r] of cached.entries()) {
      if (!r.ok) return r;
      done.push({ spec: specs[i], image: r.value?.image ?? null });
    }
    if (values.json) print(`${JSON.stringify(done.map(({ spec, image }) => ({ bug: spec?.name ?? null, ...(spec ?? {}), image })))}\n`);
    for (const { spec, image } of values.json ? [] : done) {
      print(
        `${(spec?.name ?? '(control)').padEnd(12)} ${spec ? `reverts ${spec.reverts.commit} in ${spec.func}(), caught by ${spec.caughtBy.rule} (${spec.caughtBy.severity})` : 'every fix in place'}\n`,
      );
      print(`${' '.repeat(13)}${image ?? `not built: lifetrace kernel build${spec ? ` --bug ${spec.name}` : ''}`}\n`);
    }
    return ok(0);
  }
  return err(`lifetrace kernel: build or list\n\n${KERNEL_USAGE}`);
}
