#!/usr/bin/env python3
"""Small deterministic workloads that produce, on a real kernel, the orderings lifetrace's rules
look for. Each runs under its own comm (lt-<name>) so a test can tell whose flags are whose.

usage: workloads.py NAME...   ('all': every workload but eventfs)
"""
import ctypes
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

TMP = os.environ.get('TMPDIR', '/tmp')

libc = ctypes.CDLL(None, use_errno=True)


def set_comm(name):
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def cross_process_del():
    """fork, then EPOLL_CTL_DEL in the child removes the parent's registration (epoll.cross-process-del)."""
    ep = select.epoll()
    r, w = os.pipe()
    ep.register(r, select.EPOLLIN)
    pid = os.fork()
    if pid == 0:
        set_comm('lt-xdel-child')
        ep.unregister(r)
        os._exit(0)
    os.waitpid(pid, 0)
    os.write(w, b'x')
    assert ep.poll(0.05) == [], 'the DEL in the child removed it for the parent too'
    for fd in (r, w):
        os.close(fd)
    ep.close()


def stale_fd():
    """dup + close of the registered fd, then an event under the dead number (epoll.stale-fd)."""
    ep = select.epoll()
    r, w = os.pipe()
    ep.register(r, select.EPOLLIN)
    r2 = os.dup(r)
    os.close(r)
    os.write(w, b'x')
    events = ep.poll(0.5)
    assert events and events[0][0] == r, f'epoll reports the closed fd number: {events}'
    os.close(r2)
    os.close(w)
    ep.close()


def dup2_stale():
    """dup, then dup2() of another pipe over the registered fd: the file lives on through the dup and
    stays registered under a number that now names another file (epoll.stale-fd through dup2)."""
    ep = select.epoll()
    r, w = os.pipe()
    ep.register(r, select.EPOLLIN)
    r2 = os.dup(r)
    o_r, o_w = os.pipe()
    os.dup2(o_r, r)
    os.write(w, b'x')
    events = ep.poll(0.5)
    assert events and events[0][0] == r, f'epoll reports the old file under the replaced number: {events}'
    for fd in (r, r2, w, o_r, o_w):
        os.close(fd)
    ep.close()


def close_race(rounds=8, pipes=200, budget_s=20.0):
    """one thread collects ready events from a level-triggered epoll instance holding a few hundred
    ready pipes while another closes those pipes for good: ep_item_poll() meets files whose count
    is zero (epoll.poll-on-dying-file: the guard of 4efaa5acf0a1 on a fixed kernel, ->poll() entered
    on one without it)."""
    ep = select.epoll(pipes * 2)
    start = time.monotonic()
    done = 0
    while done < rounds and (done == 0 or time.monotonic() - start < budget_s):  # a slow guest does fewer
        ends = [os.pipe() for _ in range(pipes)]
        for r, w in ends:
            os.write(w, b'x')
            ep.register(r, select.EPOLLIN)
        stop = threading.Event()
        seen = [0]

        def collect():
            while not stop.is_set():
                seen[0] += len(ep.poll(0))

        t = threading.Thread(target=collect)
        t.start()
        time.sleep(0.02)
        for r, w in ends:
            os.close(r)  # no EPOLL_CTL_DEL: the final __fput reaps the epitem
        stop.set()
        t.join()
        for _, w in ends:
            os.close(w)
        done += 1
    ep.close()
    print(f'closerace: {done} rounds of {pipes} pipes in {time.monotonic() - start:.1f} s', flush=True)


def reaped():
    """the last close of a registered file with no EPOLL_CTL_DEL (epoll.reaped-by-final-fput)."""
    ep = select.epoll()
    r, w = os.pipe()
    ep.register(r, select.EPOLLIN)
    os.close(r)
    os.close(w)
    ep.close()


def pty_readdir(seconds=3.0):
    """list /dev/pts while another process opens and closes ptys (dcache.readdir-vs-delete)."""
    stop = time.time() + seconds
    pid = os.fork()
    if pid == 0:
        set_comm('lt-pty-closer')
        while time.time() < stop:
            a, b = os.openpty()
            os.close(b)
            os.close(a)
        os._exit(0)
    set_comm('lt-pty-lister')
    n = 0
    while time.time() < stop:
        os.listdir('/dev/pts')
        n += 1
    os.waitpid(pid, 0)


# fanotify
FAN_CLASS_CONTENT = 0x4
FAN_CLOEXEC = 0x1
FAN_MARK_ADD = 0x1
FAN_OPEN_PERM = 0x10000
FAN_ALLOW = 0x01
AT_FDCWD = -100
EVENT = struct.Struct('IBBHQii')  # event_len, vers, reserved, metadata_len, mask, fd, pid


def fanotify_listener(path):
    fan = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
    if fan < 0:
        raise OSError(ctypes.get_errno(), 'fanotify_init')
    if libc.fanotify_mark(fan, FAN_MARK_ADD, ctypes.c_uint64(FAN_OPEN_PERM), AT_FDCWD, path.encode()) < 0:
        raise OSError(ctypes.get_errno(), 'fanotify_mark')
    return fan


def answer(fan, delay):
    buf = os.read(fan, 4096)
    _, _, _, _, _, fd, _ = EVENT.unpack_from(buf)
    time.sleep(delay)
    os.write(fan, struct.pack('iI', fd, FAN_ALLOW))
    os.close(fd)


def open_in_child(path, comm):
    pid = os.fork()
    if pid == 0:
        set_comm(comm)
        os.close(int(os.environ['LT_FAN']))  # or the listener's close would not release the group
        with open(path, 'rb'):
            pass
        os._exit(0)
    return pid


def fanotify_late(path=f'{TMP}/lt-fanotify-late'):
    """a permission listener that answers 300 ms late (fsnotify.long-permission-wait)."""
    open(path, 'w').close()
    fan = fanotify_listener(path)
    os.environ['LT_FAN'] = str(fan)
    pid = open_in_child(path, 'lt-fan-opener')
    answer(fan, 0.3)
    os.waitpid(pid, 0)
    os.close(fan)


def fanotify_teardown(path=f'{TMP}/lt-fanotify-teardown'):
    """the listener closes its group while a permission event waits (fsnotify.mark-teardown-during-wait)."""
    open(path, 'w').close()
    fan = fanotify_listener(path)
    os.environ['LT_FAN'] = str(fan)
    pid = open_in_child(path, 'lt-fan-waiter')
    buf = os.read(fan, 4096)  # the event is here: the opener now waits on us
    _, _, _, _, _, fd, _ = EVENT.unpack_from(buf)
    time.sleep(0.1)
    os.close(fd)
    os.close(fan)  # tears the group and its mark down under the waiter, which is then allowed
    os.waitpid(pid, 0)


def clean():
    """ordinary, orderly use: register, poll, DEL, close; sockets; nothing to flag."""
    ep = select.epoll()
    a, b = socket.socketpair()
    r, w = os.pipe()
    ep.register(a.fileno(), select.EPOLLIN)
    ep.register(r, select.EPOLLIN)
    for _ in range(20):
        b.send(b'x')
        os.write(w, b'y')
        for fd, _ in ep.poll(0.1):
            os.read(fd, 16) if fd == r else a.recv(16)
    ep.unregister(a.fileno())
    ep.unregister(r)
    a.close(); b.close(); os.close(r); os.close(w)
    ep.close()
    for i in range(20):
        p = f'{TMP}/lt-clean-{i}'
        with open(p, 'w') as f:
            f.write('x')
        os.listdir(TMP)
        os.unlink(p)


TRACING = '/sys/kernel/tracing'


def tracefs_write(name, text):
    # raw write(2): Python's buffered append mode seeks first, which tracefs refuses with EINVAL
    fd = os.open(f'{TRACING}/{name}', os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def outcome(what, fn):
    try:
        fn()
        print(f'eventfs: {what}: ok', flush=True)
    except OSError as e:
        print(f'eventfs: {what}: {errno.errorcode.get(e.errno, e.errno)}', flush=True)


def eventfs():
    """create a kprobe event, hold its enable file open and list its directory, remove the event,
    then try its files again (eventfs, 6.6+; the dentry rules)."""
    tracefs_write('kprobe_events', 'p:lt_probe vfs_read\n')
    d = f'{TRACING}/events/kprobes/lt_probe'
    held = os.open(f'{d}/enable', os.O_RDONLY)
    os.listdir(d)
    outcome('remove while enable is open', lambda: tracefs_write('kprobe_events', '-:lt_probe\n'))
    os.close(held)
    outcome('remove', lambda: tracefs_write('kprobe_events', '-:lt_probe\n'))
    outcome('open enable after removal', lambda: os.close(os.open(f'{d}/enable', os.O_RDONLY)))
    outcome('list after removal', lambda: os.listdir(d))


WORKLOADS = {
    'xdel': cross_process_del, 'stalefd': stale_fd, 'reaped': reaped, 'pty': pty_readdir,
    'fanlate': fanotify_late, 'fanteardown': fanotify_teardown, 'clean': clean, 'eventfs': eventfs,
    'dup2stale': dup2_stale, 'closerace': close_race,
}
# Asked for by name only: eventfs needs 6.6+, closerace is a stress run of its own.
BY_NAME = ('eventfs', 'closerace')


def main(names):
    if 'all' in names:  # every workload but those asked for by name
        names = [n for n in WORKLOADS if n not in BY_NAME] + [n for n in names if n in BY_NAME]
    for name in names:
        pid = os.fork()
        if pid == 0:
            set_comm(f'lt-{name}')
            try:
                WORKLOADS[name]()
            except Exception as e:
                print(f'{name}: {e}', file=sys.stderr)
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f'workload {name}: exit {os.waitstatus_to_exitcode(status)}', flush=True)
        time.sleep(0.2)


if __name__ == '__main__':
    main(sys.argv[1:] or ['all'])
