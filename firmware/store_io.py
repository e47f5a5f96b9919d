# Atomic JSON persistence on the garment's flash (MicroPython littlefs or FAT) and on CPython:
# settings (config.json) and presets (presets/NAME.json); a power cut at any step leaves old or new.
# The work behind firmware/store.py's Store, which imports this module for a call and releases it
# afterwards on the garment (issue 3); the functions taking `st` are Store's methods.
import json

from firmware.store import MAX_PRESETS

_SUFFIXES = (".json", ".json.bak")  # a preset exists when either is there (see preset_names)

# Why this order of steps (save_json), on both MicroPython filesystems:
# - littlefs renames atomically and over an existing file; FAT's rename fails (EEXIST) when the
#   target exists, so _move removes the target and retries. Neither filesystem has os.replace.
# - A file being written when the power goes can hold any prefix of its bytes (or, on FAT, a
#   size with unwritten zeros). A prefix of a JSON object never parses (its closing brace comes
#   last) and zeros never parse, so "parses as a JSON object" is the check for a whole file.
# - Every state between two steps keeps one whole copy of the old or the new document in
#   path, path.bak or path.tmp, and load_json tries them in that order:
#     1 write path.tmp, flush, close, sync      path = old (tmp torn or new)
#     2 remove path.bak                         path = old, tmp = new
#     3 rename path -> path.bak                 path missing, bak = old, tmp = new
#       (a corrupt path is removed instead: the good bak stays, tmp = new)
#     4 rename path.tmp -> path, sync           path = new, bak = old
#   A missing path with a good bak (crash between 3 and 4) is not demoted again: the next save
#   skips 2-3 and keeps that bak. And when a cut left the tmp as the only good copy (a first
#   save cut between 1 and 4), step 0 renames it to path before step 1 would overwrite it.
#   Tested step by step, and cut after cut, in tests/test_store.py.


class OsFs:
    # The real filesystem through `os` (MicroPython's os or CPython's); tests pass a fake instead.
    def __init__(self):
        import os

        self.os = os

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, src, dst):
        self.os.rename(src, dst)

    def remove(self, path):
        self.os.remove(path)

    def exists(self, path):
        try:
            self.os.stat(path)
            return True
        except OSError:
            return False

    def listdir(self, path):
        return self.os.listdir(path)

    def mkdir(self, path):
        self.os.mkdir(path)

    def sync(self, f=None):
        # Push written data to the medium: an open file's data on CPython (fsync; MicroPython
        # has none, and littlefs commits a file on close), else every filesystem (os.sync, where
        # the port has it; CPython's flushes the directory entries of the renames too).
        o = self.os
        if f is not None:
            if hasattr(o, "fsync") and hasattr(f, "fileno"):
                o.fsync(f.fileno())
        elif hasattr(o, "sync"):
            o.sync()


_fs = None


def default_fs():
    global _fs
    if _fs is None:
        _fs = OsFs()
    return _fs


def valid_name(name):
    # Preset and palette names: 1..24 characters of A-Z a-z 0-9 _ - (safe as file names on FAT).
    if not isinstance(name, str) or not 1 <= len(name) <= 24:
        return False
    for c in name:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_" or c == "-"):
            return False
    return True


def _move(fs, src, dst):
    # rename that also works where the target must not exist (FAT).
    try:
        fs.rename(src, dst)
    except OSError:
        if not fs.exists(dst):
            raise
        fs.remove(dst)
        fs.rename(src, dst)


def _read(fs, path):
    # (object, None), or (None, "missing"), or (None, why it is unusable). Never raises.
    try:
        f = fs.open(path, "rb")
    except OSError:
        return None, "missing"
    try:
        try:
            data = f.read()
        finally:
            f.close()
        obj = json.loads(data.decode())
    except Exception:  # OSError, UnicodeError, ValueError; CPython: RecursionError on deep nesting
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, None


def save_json(path, obj, fs=None):
    # Write `obj` to `path` so that a power cut at any step leaves the old or the new document
    # for load_json (see the step table above). Raises OSError (e.g. flash full); the old file
    # then still loads.
    if fs is None:
        fs = default_fs()
    data = json.dumps(obj)
    tmp = path + ".tmp"
    bak = path + ".bak"
    path_ok = _read(fs, path)[0] is not None
    if not path_ok and _read(fs, bak)[0] is None and _read(fs, tmp)[0] is not None:
        _move(fs, tmp, path)  # step 0: the only good copy is a cut-short save's tmp; keep it
        path_ok = True
    f = fs.open(tmp, "w")
    try:
        f.write(data)
        f.write("\n")
        f.flush()
        fs.sync(f)
    finally:
        f.close()
    fs.sync()
    if fs.exists(path):
        if path_ok:
            if fs.exists(bak):
                fs.remove(bak)
            fs.rename(path, bak)
        else:
            fs.remove(path)  # corrupt: keep the older good .bak rather than this
    _move(fs, tmp, path)
    fs.sync()


def load_json(path, fs=None):
    # (object, problem): the document at `path`, else its .bak, else its .tmp (a save cut short
    # after writing it whole); problem is None when `path` itself was good, else a message for
    # the fault list. (None, message) when nothing usable is there. Documents are JSON objects.
    if fs is None:
        fs = default_fs()
    obj, why = _read(fs, path)
    if obj is not None:
        return obj, None
    for suffix in (".bak", ".tmp"):
        alt, _ = _read(fs, path + suffix)
        if alt is not None:
            return alt, "%s: %s; using %s%s (%s)" % (
                path, why, path, suffix, "the copy kept by the last save" if suffix == ".bak" else "a save cut short")
    if why == "missing":
        return None, "%s: missing" % path
    return None, "%s: %s and no usable backup" % (path, why)


def _fs_of(st):
    return st.fs if st.fs is not None else default_fs()


def load_settings(st):
    return load_json(st.config_path, _fs_of(st))


def save_settings(st, doc):
    save_json(st.config_path, doc, _fs_of(st))


def _preset_path(st, name):
    if not valid_name(name):
        raise ValueError("preset names are 1..24 characters of A-Z a-z 0-9 _ -")
    return st.preset_dir + "/" + name + ".json"


def preset_names(st):
    # Sorted names of the saved presets (a preset whose save was cut short between steps 3
    # and 4 is listed through its .bak; one whose first save never finished is not listed).
    try:
        entries = _fs_of(st).listdir(st.preset_dir)
    except OSError:
        return []
    out = []
    for e in entries:
        for suffix in _SUFFIXES:
            if e.endswith(suffix):
                n = e[: len(e) - len(suffix)]
                if valid_name(n) and n not in out:
                    out.append(n)
    out.sort()
    return out


def preset_save(st, name, doc):
    # Raises ValueError (bad name, too many presets) or OSError (flash).
    path = _preset_path(st, name)
    if name not in preset_names(st) and len(preset_names(st)) >= MAX_PRESETS:
        raise ValueError("%d presets already; delete one first" % MAX_PRESETS)
    fs = _fs_of(st)
    if not fs.exists(st.preset_dir):
        fs.mkdir(st.preset_dir)
    save_json(path, doc, fs)


def preset_load(st, name):
    # (document, problem) like load_json; raises ValueError for a bad name.
    return load_json(_preset_path(st, name), _fs_of(st))


def preset_delete(st, name):
    # True if something was deleted; raises ValueError for a bad name, OSError (flash).
    path = _preset_path(st, name)
    fs = _fs_of(st)
    found = False
    for p in (path, path + ".bak", path + ".tmp"):
        if fs.exists(p):
            fs.remove(p)
            found = True
    return found
