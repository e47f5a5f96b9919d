# Shims that let the portable core run on CPython and MicroPython alike.
# Import `const` from here; MicroPython's compiler still sees `const()` calls and folds them.
try:
    from micropython import const  # MicroPython (and the host stand-in)
except ImportError:  # plain CPython without the stand-ins on the path

    def const(x):
        return x
