# Atomic persistence (firmware/store.py, firmware/store_io.py): a power cut after any step of a
# save leaves the old or the new document loadable, on littlefs-like and FAT-like filesystems;
# fallbacks; preset names.
import copy
import json
import os
import random

import pytest

from firmware import store
from firmware.store import Store
from firmware.store_io import load_json, save_json, valid_name


class PowerLoss(BaseException):
    # BaseException: nothing in store.py may swallow it, as nothing runs after a real power cut.
    pass


class FakeFile:
    def __init__(self, fs, path, writer):
        self.fs = fs
        self.path = path
        self.writer = writer

    def write(self, s):
        self.fs.step("write")
        self.fs.files[self.path] += s.encode() if isinstance(s, str) else bytes(s)

    def flush(self):
        self.fs.step("flush")

    def read(self):
        return self.fs.files[self.path]

    def close(self):
        if self.writer:
            self.writer = False
            self.fs.step("close")
            self.fs.writing = None


class FakeFs:
    # An in-memory filesystem whose every mutating step can be the last before the power goes.
    # fat=True: rename refuses an existing target (FAT); else it replaces it (littlefs).
    def __init__(self, fat=False, files=None):
        self.fat = fat
        self.files = dict(files or {})
        self.dirs = set()
        self.budget = None  # steps left before the power cut; None = no cut
        self.steps = []
        self.writing = None  # the file open for writing when the power went

    def step(self, what):
        if self.budget is not None:
            if self.budget == 0:
                raise PowerLoss(what)
            self.budget -= 1
        self.steps.append(what)

    def open(self, path, mode):
        if "w" in mode:
            self.step("open")
            self.files[path] = b""
            self.writing = path
            return FakeFile(self, path, True)
        if path not in self.files:
            raise OSError(2, "ENOENT")
        return FakeFile(self, path, False)

    def rename(self, src, dst):
        if src not in self.files:
            raise OSError(2, "ENOENT")
        if self.fat and dst in self.files:
            raise OSError(17, "EEXIST")
        self.step("rename")
        self.files[dst] = self.files.pop(src)

    def remove(self, path):
        if path not in self.files:
            raise OSError(2, "ENOENT")
        self.step("remove")
        del self.files[path]

    def exists(self, path):
        return path in self.files or path in self.dirs

    def listdir(self, path):
        pre = path + "/"
        if path not in self.dirs:
            raise OSError(2, "ENOENT")
        return [p[len(pre):] for p in self.files if p.startswith(pre)]

    def mkdir(self, path):
        self.step("mkdir")
        self.dirs.add(path)

    def sync(self, f=None):
        self.step("sync")

    def clone(self):
        c = FakeFs(self.fat, self.files)
        c.dirs = set(self.dirs)
        return c


OLD = {"schema": 1, "params": {"gate": 7}, "panels": {"back": {"mode": "sweep", "palette": "ice"}}, "palettes": {}}
NEW = {"schema": 1, "params": {"gate": 12, "speed": 200}, "panels": {}, "palettes": {"mine": [[0, 1, 2, 3], [255, 4, 5, 6]]}}
P = "config.json"


def enc(obj):
    return (json.dumps(obj) + "\n").encode()


def torn_variants(fs):
    # States the medium may hold after the cut: the file being written holds any prefix of its
    # bytes (sampled), or (FAT) its full size in zeros.
    yield fs
    w = fs.writing
    if w is None or w not in fs.files:
        return
    data = fs.files[w]
    for cut in sorted({0, 1, len(data) // 3, len(data) // 2, len(data) - 2, len(data) - 1}):
        if 0 <= cut < len(data):
            v = fs.clone()
            v.files[w] = data[:cut]
            yield v
    v = fs.clone()
    v.files[w] = b"\x00" * len(data)
    yield v


START_STATES = {
    "empty": {},
    "good": {P: enc(OLD)},
    "good+bak": {P: enc(OLD), P + ".bak": enc({"schema": 1, "params": {"gate": 1}})},
    "corrupt+bak": {P: enc(OLD)[:10], P + ".bak": enc(OLD)},
    "missing+bak": {P + ".bak": enc(OLD)},
    "missing+bak+tmp": {P + ".bak": enc(OLD), P + ".tmp": enc(OLD)},
    "garbage-tmp": {P: enc(OLD), P + ".tmp": b"\x00\x00\x00"},
}


def count_steps(files, fat):
    fs = FakeFs(fat, files)
    save_json(P, NEW, fs)
    return len(fs.steps)


@pytest.mark.parametrize("fat", [False, True], ids=["littlefs", "fat"])
@pytest.mark.parametrize("start", sorted(START_STATES))
def test_power_loss_at_every_step_leaves_old_or_new(start, fat):
    files = START_STATES[start]
    before, _ = load_json(P, FakeFs(fat, files))
    n = count_steps(files, fat)
    assert n >= 6
    checked = 0
    for k in range(n + 1):
        fs = FakeFs(fat, files)
        fs.budget = k
        try:
            save_json(P, NEW, fs)
            assert k == n, "the save finished before its last step?"
        except PowerLoss:
            assert k < n
        fs.budget = None
        for state in torn_variants(fs):
            got, problem = load_json(P, state)
            assert got in (before, NEW), "cut after step %d (%s): loaded %r" % (k, fs.steps, got)
            checked += 1
            # and the next save after that cut, uninterrupted, always lands
            again = state.clone()
            save_json(P, OLD, again)
            assert load_json(P, again) == (OLD, None)
    got, problem = load_json(P, fs)
    assert (got, problem) == (NEW, None)  # the uninterrupted save
    assert checked > n


@pytest.mark.parametrize("fat", [False, True], ids=["littlefs", "fat"])
def test_cut_after_cut_random_sequences(fat):
    # Saves cut at random steps one after another: each load yields the last loaded document or
    # the one being saved, never a torn one, whatever state earlier cuts left behind.
    rnd = random.Random(1234 + fat)
    fs = FakeFs(fat)
    last, _ = load_json(P, fs)
    for i in range(600):
        doc = {"schema": 1, "params": {"gate": i % 31}, "n": i}
        n = count_steps(fs.files, fat)
        fs.budget = rnd.randrange(n + 1)
        try:
            save_json(P, doc, fs)
        except PowerLoss:
            pass
        fs.budget = None
        states = list(torn_variants(fs))
        fs = rnd.choice(states).clone()
        got, _ = load_json(P, fs)
        assert got in (last, doc), (i, got, last, doc)
        last = got


def test_steps_are_as_documented():
    # The step table in store.py: tmp written and synced, old file kept as .bak, tmp moved in.
    fs = FakeFs(True, {P: enc(OLD), P + ".bak": enc({"old": 1})})
    save_json(P, NEW, fs)
    assert fs.steps == ["open", "write", "write", "flush", "sync", "close", "sync", "remove", "rename", "rename", "sync"]
    assert fs.files[P + ".bak"] == enc(OLD)
    assert json.loads(fs.files[P]) == NEW
    assert P + ".tmp" not in fs.files


def test_a_corrupt_file_is_not_kept_as_the_backup():
    fs = FakeFs(False, {P: b'{"sche', P + ".bak": enc(OLD)})
    save_json(P, NEW, fs)
    assert fs.files[P + ".bak"] == enc(OLD)
    assert load_json(P, fs) == (NEW, None)


def test_real_files_round_trip_and_backup(tmp_path):
    path = str(tmp_path / "config.json")
    assert load_json(path) == (None, path + ": missing")
    save_json(path, OLD)
    assert load_json(path) == (OLD, None)
    save_json(path, NEW)
    assert load_json(path) == (NEW, None)
    assert json.loads(open(path + ".bak").read()) == OLD
    assert not os.path.exists(path + ".tmp")


def test_corrupt_file_falls_back_to_bak(tmp_path):
    path = str(tmp_path / "config.json")
    save_json(path, OLD)
    save_json(path, NEW)
    with open(path, "w") as f:
        f.write('{"schema": 1, "par')
    got, problem = load_json(path)
    assert got == OLD
    assert "not valid JSON" in problem and "config.json.bak" in problem
    with open(path, "wb") as f:
        f.write(b"\xff\xfe\x00garbage")
    assert load_json(path)[0] == OLD
    with open(path, "w") as f:
        f.write("[1, 2, 3]")  # JSON, but not a settings document
    got, problem = load_json(path)
    assert got == OLD and "not a JSON object" in problem


def test_missing_and_unusable_give_defaults_with_a_message(tmp_path):
    path = str(tmp_path / "config.json")
    assert load_json(path) == (None, path + ": missing")
    with open(path, "w") as f:
        f.write("{")
    got, problem = load_json(path)
    assert got is None and problem == path + ": not valid JSON and no usable backup"
    with open(path + ".bak", "w") as f:
        f.write("")
    assert load_json(path)[0] is None


def test_missing_file_with_bak_is_recovered_and_next_save_keeps_it(tmp_path):
    # The state a cut between steps 3 and 4 leaves: no config.json, .bak = old, .tmp = new.
    path = str(tmp_path / "config.json")
    with open(path + ".bak", "w") as f:
        f.write(json.dumps(OLD))
    got, problem = load_json(path)
    assert got == OLD and "missing" in problem
    save_json(path, NEW)
    assert load_json(path) == (NEW, None)
    assert json.loads(open(path + ".bak").read()) == OLD


def test_save_raises_oserror_and_keeps_the_old_file():
    class FullFs(FakeFs):
        def open(self, path, mode):
            if "w" in mode:
                raise OSError(28, "ENOSPC")
            return super().open(path, mode)

    fs = FullFs(False, {P: enc(OLD)})
    with pytest.raises(OSError):
        save_json(P, NEW, fs)
    assert load_json(P, fs) == (OLD, None)


@pytest.mark.parametrize("name", ["a", "Z", "0", "party_2", "my-look", "x" * 24, "A_b-9"])
def test_valid_names(name):
    assert valid_name(name)


@pytest.mark.parametrize("name", ["", "x" * 25, "a b", "../x", "a/b", "a.json", "é", "tab\t", "a\x00",
                                  None, 5, ["a"], "con.", "\u0661"])
def test_invalid_names(name):
    assert not valid_name(name)


def test_presets_save_list_load_delete(tmp_path):
    st = Store(str(tmp_path))
    assert st.preset_names() == []
    st.preset_save("calm", OLD)
    st.preset_save("party", NEW)
    st.preset_save("calm", NEW)  # overwrite keeps one name (and a .bak)
    assert st.preset_names() == ["calm", "party"]
    assert st.preset_load("calm") == (NEW, None)
    assert sorted(os.listdir(tmp_path / "presets")) == ["calm.json", "calm.json.bak", "party.json"]
    assert st.preset_delete("calm") is True
    assert st.preset_delete("calm") is False
    assert st.preset_names() == ["party"]
    assert st.preset_load("calm") == (None, str(tmp_path / "presets" / "calm.json") + ": missing")
    with pytest.raises(ValueError):
        st.preset_save("../evil", OLD)
    with pytest.raises(ValueError):
        st.preset_load("a b")
    with pytest.raises(ValueError):
        st.preset_delete("")


def test_preset_count_is_limited():
    st = Store("", FakeFs())
    for i in range(store.MAX_PRESETS):
        st.preset_save("p%d" % i, OLD)
    with pytest.raises(ValueError, match="delete one first"):
        st.preset_save("one_more", OLD)
    st.preset_save("p3", NEW)  # replacing an existing one is fine
    assert len(st.preset_names()) == store.MAX_PRESETS


def test_preset_listed_through_its_backup_after_a_cut():
    fs = FakeFs(True)
    st = Store("", fs)
    st.preset_save("look", OLD)
    st.preset_save("look", OLD)
    steps = len(fs.steps)
    fs.steps = []
    fs.budget = 9  # cut right after presets/look.json became presets/look.json.bak
    with pytest.raises(PowerLoss):
        st.preset_save("look", NEW)
    assert fs.steps[-1] == "rename" and "presets/look.json" not in fs.files
    fs.budget = None
    assert st.preset_names() == ["look"]
    assert st.preset_load("look")[0] == OLD
    assert steps > 0


def test_settings_paths_under_a_root():
    fs = FakeFs()
    st = Store("/flash", fs)
    st.save_settings(OLD)
    assert "/flash/config.json" in fs.files
    assert st.load_settings() == (OLD, None)
    assert copy.deepcopy(OLD) == OLD
