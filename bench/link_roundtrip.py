# Round-trip time of one `set` request over the serial link, against `threadbeat simulate` on a pty:
# median and p99 in ms over N sets. Measures the host link + protocol + simulator loop, not a USB cable.
import os
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main(n=200):
    from host_tools.link import open_link

    audio = os.path.join(REPO, "tests", "fixtures", "mix_clean.flac")
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.simulate", "--audio", audio], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        got = []
        t = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
        t.start()
        t.join(30)
        path = got[0].strip() if got else ""
        if not path.startswith("/dev/"):
            raise SystemExit("simulator did not start")
        with open_link(path) as c:
            for i in range(10):  # warm-up
                c.request("set", values={"brightness": 100 + i})
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                c.request("set", values={"brightness": 50 + i % 150})
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, int(round(0.99 * len(times))) - 1)]
        line = ("`set` round trip over a pty to `threadbeat simulate` (%d sets): median %.2f ms, p99 %.2f ms, max %.2f ms"
                % (n, statistics.median(times), p99, times[-1]))
        print(line)
        if "--no-readme" not in sys.argv:
            from bench import readme

            readme.update("link", [line + " (no wire time: at 115,200 baud a ~330-byte reply adds ~29 ms)", "",
                                   "_%s_" % readme.stamp()])
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 200)
