# The one exception type host commands raise for a user-facing failure, and the one dispatcher
# that turns it into `threadbeat: message` with exit code 1 (shared by cli, cli_link and flash).
import argparse
import sys


class CommandError(Exception):
    pass


def verb_parser(commands, description):
    # An argparse parser for a {name: (handler, help, add_arguments)} table.
    ap = argparse.ArgumentParser(prog="threadbeat", description=description)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_, add) in commands.items():
        add(sub.add_parser(name, help=help_, description=help_))
    return ap


def dispatch(ap, commands, argv=None):
    # Parse, run the verb's handler; CommandError -> one line on stderr and exit code 1.
    args = ap.parse_args(argv)
    if not args.command:
        ap.print_help()
        return 2
    try:
        commands[args.command][0](args)
    except CommandError as e:
        print("threadbeat: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("threadbeat: interrupted", file=sys.stderr)
        return 130
    return 0
