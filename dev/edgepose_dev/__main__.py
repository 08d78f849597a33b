"""`python -m edgepose_dev ARGS`: `edgepose ARGS` with this distribution's commands also where it is not installed
(a source tree on PYTHONPATH, as under qemu: tools/aarch64/run.sh), declared from dev/pyproject.toml's entry
points. Installed, `edgepose ARGS` is the same."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from edgepose import plugins
from edgepose.cli import main

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"  # dev/pyproject.toml in a checkout


def declare_entry_points(pyproject: Path = PYPROJECT) -> None:
    """Declare the entry points of `pyproject` to edgepose.plugins (nothing when it is absent: a wheel install,
    whose entry points are installed)."""
    if not pyproject.is_file():
        return
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("entry-points", {})
    for group, entries in groups.items():
        for name, target in entries.items():
            plugins.declare(group, name, target)


if __name__ == "__main__":
    declare_entry_points()
    sys.exit(main())
