"""The commands edgepose-dev adds (issue 12): present through its entry points when it is installed (as here), and
without it (a device) each says in one line what to install and exits 69."""

from __future__ import annotations

import pytest

from edgepose import plugins
from edgepose.cli import build_parser, main
from edgepose.errors import EXIT_UNAVAILABLE


@pytest.fixture
def without_dev(monkeypatch):
    """The runtime as a device has it: no distribution provides entry points in edgepose's groups."""
    real = plugins.entry_points

    def runtime_only(group: str):
        return [] if group.startswith("edgepose.") else real(group=group)

    monkeypatch.setattr(plugins, "entry_points", runtime_only)
    monkeypatch.setattr(plugins, "DECLARED", {})


def _subcommands(parser) -> set[str]:
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(sub.choices)


def test_installed_dev_commands_come_from_its_entry_points() -> None:
    assert set(plugins.plugins(plugins.COMMANDS)) == {"eval"}
    parser = build_parser()
    args = parser.parse_args(["eval", "a.json", "--images", "imgs", "--against", "mediapipe"])
    assert args.func.__module__ == "edgepose_dev.commands.eval"
    args = parser.parse_args(["models", "build", "--only", "pose_detection"])
    assert args.func.__module__ == "edgepose_dev.models_build.cli"
    assert callable(plugins.reference("mediapipe"))


@pytest.mark.parametrize("argv", [
    ["eval", "person_keypoints.json", "--images", "photos", "--against", "mediapipe"],
    ["models", "build", "--only", "pose_detection"],
    ["bench", "no_such_video.mp4", "--against", "mediapipe"],  # 69, not 66: checked before any work
])  # fmt: skip
def test_without_dev_each_dev_command_says_what_to_install(without_dev, capsys, argv) -> None:
    assert main(argv) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "edgepose-dev" in err and "pip install -e ./dev" in err, err


def test_without_dev_the_runtime_commands_are_all_there(without_dev) -> None:
    parser = build_parser()
    assert {"run", "demo", "listen", "infer", "bench", "presence", "config", "models", "eval"} <= _subcommands(parser)
    models = parser.parse_args(["models", "verify"])
    assert models.func.__module__ == "edgepose.commands.models"


def test_python_m_edgepose_dev_declares_its_commands_where_it_has_no_metadata(without_dev) -> None:
    """A source tree on PYTHONPATH (qemu's aarch64 root) has no installed entry points: `python -m edgepose_dev`
    declares those of dev/pyproject.toml."""
    from edgepose_dev.__main__ import declare_entry_points

    assert build_parser().parse_args(["models", "build"]).func.__module__ == "edgepose.plugins"  # the stand-in
    declare_entry_points()
    parser = build_parser()
    assert parser.parse_args(["models", "build"]).func.__module__ == "edgepose_dev.models_build.cli"
    assert parser.parse_args(["eval", "a.json", "--images", "i"]).func.__module__ == "edgepose_dev.commands.eval"
