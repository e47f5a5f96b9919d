# CPython stand-in for MicroPython's `micropython` module: const, emitter decorators, heap/debug no-ops.
# Lets firmware that imports micropython run and be tested on a laptop (heap locks are not enforced here).

_heap_lock_depth = 0


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def asm_xtensa(f):
    return f


def mem_info(verbose=None):
    print("stack: 0 out of 15360\nGC: total: 0, used: 0, free: 0 (CPython stand-in)")


def qstr_info(verbose=None):
    print("qstr pool: n_pool=0, n_qstr=0 (CPython stand-in)")


def stack_use():
    return 0


def heap_lock():
    # Real MicroPython makes allocation raise MemoryError while locked; CPython cannot.
    global _heap_lock_depth
    _heap_lock_depth += 1
    return _heap_lock_depth - 1


def heap_unlock():
    global _heap_lock_depth
    if _heap_lock_depth:
        _heap_lock_depth -= 1
    return _heap_lock_depth


def heap_locked():
    return _heap_lock_depth


def alloc_emergency_exception_buf(size):
    pass


def opt_level(level=None):
    return 0 if level is None else None


def kbd_intr(chr):
    pass


def schedule(func, arg):
    # Runs at once; on the device it runs at the VM's next safe point.
    func(arg)
    return True
