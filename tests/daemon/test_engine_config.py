"""The daemon's engine settings: `engine.threads = 0` leaves one core for capture and MQTT."""

from __future__ import annotations

import pytest

from edgepose.config import parse_config
from edgepose.daemon import runner


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 3), (5, 4), (16, 4)])
def test_auto_threads_leaves_a_core(monkeypatch: pytest.MonkeyPatch, cores: int, threads: int) -> None:
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert runner.auto_threads() == threads
    assert runner.engine_config(parse_config({}, env={})).threads == threads


def test_explicit_threads_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _pid: set(range(2)))
    assert runner.engine_config(parse_config({"engine": {"threads": 3}}, env={})).threads == 3
