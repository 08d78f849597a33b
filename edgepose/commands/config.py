"""`edgepose config check FILE`: validate a configuration file and print the effective configuration; and
`read_config`, how every command reads its configuration file."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from edgepose.config import Config, ConfigError, dump_toml, load_config, to_dict
from edgepose.errors import EXIT_CONFIG, CommandError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="check a configuration file")
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate FILE (with EDGEPOSE_* environment overrides) and print the effective configuration",
    )
    check.add_argument("file", metavar="FILE", help="TOML configuration file")
    check.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    check.add_argument("-q", "--quiet", action="store_true", help="print nothing when the file is valid")
    check.set_defaults(func=run_check)


def read_config(path: str | None, overrides: Mapping[str, tuple[Any, str]] | None = None) -> Config:
    """`load_config` for a command: an invalid file is a CommandError of one line (exit 78), which names the
    key path and what is allowed."""
    try:
        return load_config(path, overrides=overrides)
    except ConfigError as e:
        raise CommandError(f"invalid configuration: {' '.join(str(e).split())}", EXIT_CONFIG) from None


def run_check(args: argparse.Namespace) -> int:
    cfg = read_config(args.file)
    if not args.quiet:
        if args.json:
            print(json.dumps(to_dict(cfg), indent=2))
        else:
            print(dump_toml(cfg), end="")
    return 0
