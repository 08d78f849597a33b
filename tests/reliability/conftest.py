"""Fixtures of the reliability tests: daemons that are always reaped (the clips are tests/support/clips.py's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.daemon import DaemonProcess


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons; any still running at the end of the test is killed (only those started here)."""
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str, name: str = "daemon", **kw: object) -> DaemonProcess:
        d = DaemonProcess(config, *args, workdir=tmp_path / name, **kw)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()
