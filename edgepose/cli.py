"""The `edgepose` command line. Each subcommand lives in its own module under `edgepose.commands`.

A command module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`. The
development distribution adds its commands (`eval`, `models build`) through entry points (edgepose.plugins).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from edgepose import __version__, plugins

# One entry per command module; order is the order of `edgepose --help`.
COMMANDS: tuple[str, ...] = (
    "edgepose.commands.models",
    "edgepose.commands.infer",
    "edgepose.commands.bench",
    "edgepose.commands.run",
    "edgepose.commands.presence",
    "edgepose.commands.demo",
    "edgepose.commands.listen",
    "edgepose.commands.config",
)

# Exit statuses (sysexits.h) and CommandError, defined with the error base (the commands import them from
# edgepose.errors; re-exported here for older callers).
from edgepose.errors import (  # noqa: E402
    EXIT_CONFIG,
    EXIT_DATAERR,
    EXIT_FAILURE,
    EXIT_NOINPUT,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandError,
    EdgeposeError,
)

__all__ = ["EXIT_CONFIG", "EXIT_DATAERR", "EXIT_FAILURE", "EXIT_NOINPUT", "EXIT_OK", "EXIT_UNAVAILABLE",
           "EXIT_USAGE", "CommandError", "build_parser", "main"]  # fmt: skip


class UsageExitParser(argparse.ArgumentParser):
    """argparse that exits with the usage status 64 (sysexits.h, as the README says) instead of its own 2.

    Subcommand parsers are of the same class (argparse creates them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = UsageExitParser(prog="edgepose", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"edgepose {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    plugins.register_commands(plugins.COMMANDS, sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except EdgeposeError as e:  # the one place where an error becomes an exit status
        print(f"edgepose {args.command}: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
