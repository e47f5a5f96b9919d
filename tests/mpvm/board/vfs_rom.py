# Stand-in for a ROMFS partition on the WebAssembly VM REPL (tests/mpvm/repl.mjs --romfs BYTES): the
# port's `vfs` has no rom_ioctl, so this installs a `vfs` in sys.modules with the real module's functions
# plus rom_ioctl over a partition kept in the file /.romfs0 (it survives a soft reset, as flash does).
# mpremote's own `romfs query` / `romfs deploy` run against it unchanged (its path for boards whose
# segment is a plain buffer: ops 1, 2, 6, 3, 4, 5). A board memory-maps the partition and imports from
# it in place; the port has no VfsRom, so when a write completes (op 5) the image's files are unpacked
# into /rom, which is on sys.path after '' as on a board with ROMFS.
# Run by repl.mjs at every (re)boot as: exec(this file); _tb_install(size)
def _tb_install(size):
    import os
    import sys
    import vfs as real

    part = "/.romfs0"

    def load():
        try:
            with open(part, "rb") as f:
                b = bytearray(f.read())
        except OSError:
            b = bytearray()
        return b if len(b) == size else bytearray(b"\xff" * size)

    buf = load()

    def uint(b, i):
        v = 0
        while True:
            c = b[i]
            i += 1
            v = (v << 7) | (c & 0x7F)
            if not c & 0x80:
                return v, i

    def rmtree(p):
        try:
            entries = list(os.ilistdir(p))
        except OSError:
            return
        for e in entries:
            q = p + "/" + e[0]
            if e[1] == 0x4000:
                rmtree(q)
            else:
                os.remove(q)
        os.rmdir(p)

    def unpack(b, i, end, d):
        # records: kind, length, payload; directories (4) and files (5) hold a name then records
        while i < end:
            kind, i = uint(b, i)
            n, i = uint(b, i)
            j = i + n
            if kind in (4, 5):
                ln, k = uint(b, i)
                name = bytes(b[k:k + ln]).decode()
                k += ln
                if kind == 4:
                    os.mkdir(d + "/" + name)
                    unpack(b, k, j, d + "/" + name)
                else:
                    dk, k = uint(b, k)
                    dn, k = uint(b, k)
                    with open(d + "/" + name, "wb") as f:
                        f.write(b[k:k + dn])
            i = j

    def mount():
        rmtree("/rom")
        if bytes(buf[:3]) != b"\xd2\xcd\x31":
            return
        n, i = uint(buf, 3)
        os.mkdir("/rom")
        unpack(buf, i, i + n, "/rom")

    def rom_ioctl(op, *a):
        if op == 1:  # number of segments
            return 1
        if a and a[0] != 0:
            return -22  # one partition: id 0
        if op == 2:  # the segment
            return buf
        if op == 6:  # erase block size
            return 4096
        if op == 3:  # prepare (erase) for writing: (id, length) or (id, offset, length)
            off, n = (0, a[1]) if len(a) == 2 else (a[1], a[2])
            if off < 0 or off + n > size:
                return -22
            for k in range(off, off + n):
                buf[k] = 0xFF
            return 4  # minimum write size
        if op == 4:  # write (id, offset, data)
            off, data = a[1], a[2]
            if off < 0 or off + len(data) > size:
                return -22
            buf[off:off + len(data)] = data
            return 0
        if op == 5:  # end of writing: the partition is flash now (kept over resets) and mounted
            with open(part, "wb") as f:
                f.write(buf)
            mount()
            return 0
        return -22

    class Vfs:
        mount = real.mount
        umount = real.umount
        VfsPosix = real.VfsPosix

    Vfs.rom_ioctl = staticmethod(rom_ioctl)
    sys.modules["vfs"] = Vfs
    if "/rom" not in sys.path:
        sys.path.insert(1, "/rom")
