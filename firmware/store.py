# Atomic JSON persistence on the garment's flash (MicroPython littlefs or FAT) and on CPython:
# settings (config.json) and presets (presets/NAME.json); a power cut at any step leaves old or new.
# Store is the resident shell: the work (and the step table of a save) is in firmware/store_io.py,
# imported for each call and released afterwards on MicroPython, so its bytecode is in the heap
# only while a file is read or written (issue 3).
MAX_PRESETS = 16  # flash is small; one preset is ~0.5-1.5 KB
PRESET_DIR = "presets"
CONFIG_FILE = "config.json"
_IO = "firmware.store_io"


def release(name, attr):
    # Forget the firmware module `name` (e.g. "firmware.store_io", attr "store_io") on MicroPython,
    # where module bytecode lives in the heap: the next collection frees it once nothing refers to
    # it (its interned strings stay, as every qstr does). CPython keeps its modules. Allocates
    # nothing, so it cannot fail after a command has done its work.
    import sys

    if sys.implementation.name != "micropython":
        return
    sys.modules.pop(name, None)
    pkg = sys.modules.get("firmware")
    if pkg is not None and attr in pkg.__dict__:
        delattr(pkg, attr)


def _run(fn, *args):
    # store_io.fn(*args) with the module imported for the call; released afterwards unless it was
    # loaded already (protocol_extra imports it for a whole request and releases it itself).
    import sys

    loaded = _IO in sys.modules
    from firmware import store_io

    try:
        return getattr(store_io, fn)(*args)
    finally:
        if not loaded:
            release(_IO, "store_io")


class Store:
    # The garment's settings file and presets under `root` ("" = the current directory). fs: the
    # filesystem (store_io.OsFs's interface; tests pass a fake), None = the real one.
    def __init__(self, root="", fs=None):
        self.fs = fs
        pre = root + "/" if root and not root.endswith("/") else root
        self.config_path = pre + CONFIG_FILE
        self.preset_dir = pre + PRESET_DIR

    def load_settings(self):
        # (document, problem): see store_io.load_json.
        return _run("load_settings", self)

    def save_settings(self, doc):
        _run("save_settings", self, doc)

    def preset_names(self):
        return _run("preset_names", self)

    def preset_save(self, name, doc):
        # Raises ValueError (bad name, too many presets) or OSError (flash).
        _run("preset_save", self, name, doc)

    def preset_load(self, name):
        # (document, problem) like load_json; raises ValueError for a bad name.
        return _run("preset_load", self, name)

    def preset_delete(self, name):
        # True if something was deleted; raises ValueError for a bad name, OSError (flash).
        return _run("preset_delete", self, name)
