# Writes benchmark figures into README.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
# markers, so the results table always shows the last measured run (with its date and machine).
import datetime
import os
import platform

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def stamp():
    return "measured %s on %s, %d cores, Python %s" % (
        datetime.date.today().isoformat(), platform.machine(), os.cpu_count() or 0, platform.python_version())


def update(name, lines):
    # Replace the section's body with `lines` (a list of markdown lines). Missing markers: append.
    start, end = "<!-- bench:%s -->" % name, "<!-- /bench:%s -->" % name
    text = open(README).read() if os.path.exists(README) else ""
    body = "\n".join(lines)
    if start in text and end in text:
        a = text.index(start) + len(start)
        b = text.index(end)
        text = text[:a] + "\n" + body + "\n" + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + start + "\n" + body + "\n" + end + "\n"
    with open(README, "w") as f:
        f.write(text)
