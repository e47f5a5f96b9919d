# A MicroPython "board" without hardware: the WebAssembly port's REPL (tests/mpvm/repl.mjs, under Node)
# behind a real pseudo-terminal, so `mpremote connect /dev/pts/N …` and `threadbeat flash --port /dev/pts/N`
# talk to it as to an ESP32 on a USB serial port.
"""Serve the MicroPython WebAssembly REPL on a pseudo-terminal.

    from mpvm_repl import VmBoard
    with VmBoard(quota=64 * 1024) as board:   # board.port is /dev/pts/N
        subprocess.run(["mpremote", "connect", board.port, "exec", "print(1)"])
        board.files()                        # {path: (size, sha256)} on the VM's filesystem

What works and what the port lacks is listed at the top of tests/mpvm/repl.mjs (raw-paste and soft reset
are emulated, Ctrl-C cannot interrupt running code, no machine/neopixel/I2S).
Command line: python tests/mpvm_repl.py [--root DIR] [--quota BYTES] [--run-main] prints the port and
serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(HERE, "mpvm", "repl.mjs")


class VmBoard:
    def __init__(self, root: str | None = None, quota: int | None = None, run_main: bool = False, heap: int | None = None,
                 raw_paste: bool = True, romfs: int | None = None):
        from mpvm import ensure_installed

        ensure_installed()
        cmd = ["node", SCRIPT]
        if root:
            cmd += ["--root", os.fspath(root)]
        if quota:
            cmd += ["--quota", str(int(quota))]
        if heap:
            cmd += ["--heap", str(int(heap))]
        if run_main:
            cmd.append("--run-main")
        if romfs:
            cmd += ["--romfs", str(int(romfs))]
        if not raw_paste:
            cmd.append("--no-raw-paste")
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # a serial line: no echo, no newline translation, no signals
        self.port = os.ttyname(self.slave)
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.bytes_in = 0  # host -> board
        self.bytes_out = 0  # board -> host
        self._closed = False
        self._threads = [threading.Thread(target=self._to_vm, daemon=True),
                         threading.Thread(target=self._to_host, daemon=True)]
        for t in self._threads:
            t.start()
        self._wait_banner()

    def _wait_banner(self, timeout=30.0):
        # The port prints its banner and ">>> " once it is up; swallow it as a freshly opened port would.
        deadline = time.monotonic() + timeout
        seen = b""
        os.set_blocking(self.slave, False)
        try:
            while b">>> " not in seen:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("MicroPython REPL did not start: %r %s" % (
                        seen[-200:], self.proc.stderr.read().decode() if self.proc.poll() is not None else ""))
                try:
                    seen += os.read(self.slave, 4096)
                except BlockingIOError:
                    time.sleep(0.02)
        finally:
            os.set_blocking(self.slave, True)

    def _to_vm(self):
        while not self._closed:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.bytes_in += len(data)
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return

    def _to_host(self):
        while True:
            data = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else os.read(self.proc.stdout.fileno(), 4096)
            if not data:
                return
            self.bytes_out += len(data)
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                except OSError:
                    return
                view = view[n:]

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def exec(self, code: str, timeout: float = 60) -> str:
        # Run code through mpremote (raw REPL); returns its stdout.
        exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
        r = subprocess.run([exe if os.path.exists(exe) else "mpremote", "connect", self.port, "resume", "exec", code],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("mpremote exec failed: %s %s" % (r.stdout, r.stderr))
        return r.stdout

    def files(self, root: str = "/") -> dict:
        # {path relative to root: (size, sha256 hex)} of every regular file on the VM (skipping /dev /proc
        # /tmp /home), hashed on the VM (sending the bytes back is slow: mpremote reads output byte by byte).
        code = "\n".join([
            "import os, binascii, hashlib",
            "def _w(d):",
            " for e in os.ilistdir(d or '/'):",
            "  p=d+'/'+e[0]",
            "  if p in ('/dev','/proc','/tmp','/home'): continue",
            "  if e[1]==0x4000: _w(p)",
            "  else:",
            "   b=open(p,'rb').read()",
            "   print('F', p, len(b), binascii.hexlify(hashlib.sha256(b).digest()).decode())",
            "_w(%r)" % root.rstrip("/"),
        ])
        out = {}
        for line in self.exec(code).splitlines():
            parts = line.split(" ")
            if len(parts) == 4 and parts[0] == "F":
                out[parts[1].lstrip("/")] = (int(parts[2]), parts[3])
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="host folder copied onto the VM's filesystem at start")
    ap.add_argument("--quota", type=int, help="filesystem size in bytes (writes past it fail with ENOSPC)")
    ap.add_argument("--run-main", action="store_true", help="run main.py after a soft reset in the friendly REPL")
    ap.add_argument("--romfs", type=int, help="a ROMFS partition of this many bytes (vfs.rom_ioctl stand-in)")
    a = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    with VmBoard(a.root, a.quota, a.run_main, romfs=a.romfs) as board:
        print(board.port, flush=True)
        try:
            while board.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
