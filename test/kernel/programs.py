#!/usr/bin/env python3
"""Real programs nobody here wrote, run the way people run them, for the truth table: Debian's
nginx under wrk, Python's http.server under ab, and a make -j2 build watched by inotifywait and
tail -f. Each program keeps its own comm (nginx, wrk, python3, ab, make, cc1, inotifywait, tail),
so the table can tell whose flags are whose. Scratch files go to TMPDIR (the guest's /var/tmp).

usage: programs.py NAME...   ('all': every program)
       programs.py serve-nginx PORT   (nginx alone, in the foreground)
"""
import ctypes
import os
import shutil
import subprocess
import sys
import time

TMP = os.environ.get('TMPDIR', '/tmp')
SECONDS = float(os.environ.get('LT_PROGRAM_SECONDS', '6'))


def wait_port(port, timeout=20.0):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f'nothing listens on 127.0.0.1:{port}')


def site(path):
    os.makedirs(path, exist_ok=True)
    with open(f'{path}/index.html', 'w') as f:
        f.write('<html><body>' + 'lifetrace ' * 200 + '</body></html>\n')


NGINX_CONF = """daemon off;
master_process on;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{port}; root {d}/www; }}
}}
"""


def nginx_argv(port):
    """nginx's command line, its configuration and site written under TMPDIR (the guest's root is read-only)."""
    d = f'{TMP}/lt-nginx'
    site(f'{d}/www')
    with open(f'{d}/nginx.conf', 'w') as f:
        f.write(NGINX_CONF.format(d=d, port=port))
    return ['nginx', '-c', f'{d}/nginx.conf', '-e', f'{d}/error.log']


def nginx(port=8081):
    """nginx (epoll, two workers) under wrk: 4 clients for SECONDS, a fresh connection per request."""
    server = subprocess.Popen(nginx_argv(port))
    try:
        wait_port(port)
        subprocess.run(['wrk', '-t', '2', '-c', '4', '-d', f'{SECONDS:g}s', '-H', 'Connection: close', f'http://127.0.0.1:{port}/'], check=True)
    finally:
        server.terminate()
        server.wait()


def http_server(port=8082):
    """Python's http.server (a thread per connection) under ab: new connection per request."""
    d = f'{TMP}/lt-httpserver'
    site(d)
    server = subprocess.Popen([sys.executable, '-m', 'http.server', '--bind', '127.0.0.1', '--directory', d, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        subprocess.run(['ab', '-q', '-t', f'{SECONDS:g}', '-n', '1000000', '-c', '4', f'http://127.0.0.1:{port}/'], check=True)
    finally:
        server.terminate()
        server.wait()


def build():
    """make -j2 of a small C project while inotifywait -m -r and tail -f watch it."""
    d = f'{TMP}/lt-build'
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    n = 8
    for i in range(n):
        with open(f'{d}/m{i}.c', 'w') as f:
            f.write(f'#include <stdio.h>\nint f{i}(int x) {{ return x * {i + 1}; }}\n')
    with open(f'{d}/main.c', 'w') as f:
        f.write(''.join(f'int f{i}(int);\n' for i in range(n)))
        f.write('#include <stdio.h>\nint main(void) { int s = 0;\n')
        f.write(''.join(f'  s += f{i}({i});\n' for i in range(n)))
        f.write('  printf("%d\\n", s); return 0; }\n')
    objs = ' '.join(f'm{i}.o' for i in range(n)) + ' main.o'
    with open(f'{d}/Makefile', 'w') as f:
        f.write(f'prog: {objs}\n\t$(CC) -o $@ $^\n%.o: %.c\n\t$(CC) -O1 -c -o $@ $< && echo built $@ >> build.log\n')
    open(f'{d}/build.log', 'w').close()
    watcher = subprocess.Popen(['inotifywait', '-m', '-r', '-q', d], stdout=subprocess.DEVNULL)
    tail = subprocess.Popen(['tail', '-f', f'{d}/build.log'], stdout=subprocess.DEVNULL)
    try:
        time.sleep(1)
        subprocess.run(['make', '-s', '-j2', '-C', d], check=True)
        subprocess.run(['make', '-s', '-C', d, 'prog'], check=True)
        out = subprocess.run([f'{d}/prog'], check=True, capture_output=True, text=True).stdout.strip()
        assert out == str(sum(i * (i + 1) for i in range(n))), out
        time.sleep(0.5)
    finally:
        for p in (watcher, tail):
            p.terminate()
            p.wait()


PROGRAMS = {'nginx': nginx, 'httpserver': http_server, 'build': build}


def main(names):
    # the runner is a python3 too: its own name keeps it apart from http.server's tasks
    ctypes.CDLL(None).prctl(15, b'lt-programs', 0, 0, 0)  # PR_SET_NAME
    if 'all' in names:
        names = list(PROGRAMS)
    status = 0
    for name in names:
        started = time.time()
        try:
            PROGRAMS[name]()
            code = 0
        except Exception as e:
            print(f'{name}: {e}', file=sys.stderr)
            code = 1
            status = 1
        print(f'program {name}: exit {code} ({time.time() - started:.1f} s)', flush=True)
        time.sleep(0.2)
    return status


if __name__ == '__main__':
    if sys.argv[1:2] == ['serve-nginx']:  # for the overhead benchmark: nginx alone, in the foreground
        argv = nginx_argv(int(sys.argv[2]))
        os.execvp(argv[0], argv)
    sys.exit(main(sys.argv[1:] or ['all']))
