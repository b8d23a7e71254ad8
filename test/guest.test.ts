/**
 * The guest's sandbox (docs/real-kernel.md): what a workload finds inside `--vm`. One boot checks
 * everything a job sees, since each boot costs seconds under TCG.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runInGuest } from '../server/vm/guest.js';

/** Each check prints `check NAME: RESULT`; the test reads them back. */
const CHECKS = String.raw`
echo "check net-devices: $(ls /sys/class/net | tr '\n' ' ')"
python3 - <<'PY'
import socket, threading
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
def serve():
    c, _ = s.accept(); c.sendall(c.recv(16)); c.close()
threading.Thread(target=serve).start()
try:
    c = socket.create_connection(s.getsockname(), timeout=10); c.sendall(b'ping')
    print('check loopback:', c.recv(16).decode())
except OSError as e:
    print('check loopback:', e)
PY
`;

describe('the guest sandbox: Debian 6.1 in QEMU', () => {
  const seen = new Map<string, string>();

  beforeAll(async () => {
    const r = await runInGuest({ kernel: '6.1', script: CHECKS, timeoutS: 300 });
    expect(r.exitCode, r.jobLog + r.console.slice(-2000)).toBe(0);
    for (const m of r.jobLog.matchAll(/^check ([\w-]+): (.*)$/gm)) seen.set(m[1]!, m[2]!.trim());
  }, 320_000);

  it('a server on 127.0.0.1 answers (the loopback is up)', () => {
    expect(seen.get('loopback')).toBe('ping');
  });

  it('there is no network device but the loopback', () => {
    expect(seen.get('net-devices')).toBe('lo');
  });
});
