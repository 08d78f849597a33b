"""The `edgepose` command line. Each subcommand lives in its own module under `edgepose.commands`.

A command module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edgepose import __version__

# One entry per command module; order is the order of `edgepose --help`.
COMMANDS: tuple[str, ...] = (
    "edgepose.commands.models",
    "edgepose.commands.infer",
    "edgepose.commands.eval",
    "edgepose.commands.bench",
    "edgepose.commands.run",
    "edgepose.commands.presence",
    "edgepose.commands.demo",
    "edgepose.commands.listen",
    "edgepose.commands.config",
)

# Exit statuses (sysexits.h), shared by every command and by the systemd unit's RestartPreventExitStatus.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 64
EXIT_DATAERR = 65
EXIT_NOINPUT = 66
EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78


class CommandError(Exception):
    """An error with a message for the user and an exit status; printed without a traceback."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgepose", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgepose {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CommandError as e:
        print(f"edgepose {args.command}: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
