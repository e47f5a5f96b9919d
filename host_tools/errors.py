# The one exception type host commands raise for a user-facing failure; the CLI prints it as
# `threadbeat: message` and exits 1. Kept apart so every host module can raise it without cycles.


class CommandError(Exception):
    pass
