"""Exit statuses of the command line (README: 64 usage, 65 bad data, 66 missing input, 78 configuration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import REPO

from edgepose.cli import main


def edgepose(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPOSE_") or k == "EDGEPOSE_MODELS_DIR"}
    return subprocess.run([sys.executable, "-m", "edgepose", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)  # fmt: skip


@pytest.mark.parametrize("args", [["frobnicate"], [], ["infer"], ["listen", "--port", "many"],
                                  ["models", "verify", "--nope"]])  # fmt: skip
def test_usage_errors_exit_64(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 64
    err = capsys.readouterr().err
    assert "usage: edgepose" in err and "error:" in err, err


def test_usage_error_of_the_installed_command_exits_64() -> None:
    r = edgepose("frobnicate")
    assert r.returncode == 64 and "invalid choice: 'frobnicate'" in r.stderr, r.stderr


def test_broker_without_a_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--broker", "nocolon"]) == 64
    assert "--broker must be HOST:PORT, got 'nocolon'" in capsys.readouterr().err


def test_garbage_image_is_bad_data_and_a_missing_one_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "photo.jpg"
    garbage.write_bytes(b"\xff\xd8 this is no jpeg")
    assert main(["infer", str(garbage)]) == 65
    assert f"{garbage}: not a readable image" in capsys.readouterr().err
    assert main(["infer", str(tmp_path / "absent.jpg")]) == 66
    assert "absent.jpg: no such file" in capsys.readouterr().err
