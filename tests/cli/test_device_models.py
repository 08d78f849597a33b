"""What a deployed device has: the int8 models and their manifest, no float/ (deploy.sh ships none).

`edgepose models verify` must check the int8 files there, and `infer`/`bench` must default to them (issue 12).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.paths import MODELS_DIR, skimage_photo

from edgepose.cli import main

MANIFEST = MODELS_DIR / "manifest.json"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Result]


@pytest.fixture()
def edgepose(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The command line in this process (its real code path, without an interpreter start per call)."""

    def run(*args: str | Path, models: Path) -> Result:
        monkeypatch.setenv("EDGEPOSE_MODELS_DIR", str(models))
        capsys.readouterr()
        status = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(status, out, err)

    return run


@pytest.fixture()
def device_models(tmp_path: Path) -> Path:
    """A copy of models/ as deploy.sh ships it: *.tflite and manifest.json, no float/ or edgetpu_src/."""
    if not MANIFEST.is_file():
        pytest.skip(f"no int8 manifest in {MODELS_DIR} (`edgepose models build`)")
    dest = tmp_path / "models"
    dest.mkdir()
    for f in (*MODELS_DIR.glob("*.tflite"), MANIFEST):
        shutil.copy2(f, dest / f.name)
    return dest


def test_verify_checks_the_int8_files_when_float_is_absent(device_models: Path, edgepose: Cli) -> None:
    r = edgepose("models", "verify", "--models-dir", device_models, models=device_models)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "float/: not installed" in r.stdout
    shipped = json.loads(MANIFEST.read_text())["models"]
    for entry in shipped.values():
        if (device_models / entry["file"]).is_file():
            assert f"ok   {entry['file']}" in r.stdout


def test_verify_names_a_changed_int8_file(device_models: Path, edgepose: Cli) -> None:
    victim = device_models / "pose_landmark_lite_int8.tflite"
    if not victim.is_file():
        pytest.skip("no pose_landmark_lite_int8.tflite shipped")
    victim.write_bytes(victim.read_bytes()[:-16])
    r = edgepose("models", "verify", "--models-dir", device_models, models=device_models)
    assert r.returncode == 65, r.stdout + r.stderr
    assert "FAIL pose_landmark_lite_int8.tflite" in r.stdout
    assert "int8 model(s) missing or changed" in r.stderr


def test_verify_still_fails_on_a_partial_float_directory(device_models: Path, edgepose: Cli) -> None:
    (device_models / "float").mkdir()
    (device_models / "float/pose_detection.tflite").write_bytes(b"not a model")
    r = edgepose("models", "verify", "--models-dir", device_models, models=device_models)
    assert r.returncode == 65
    assert "FAIL float/pose_detection.tflite: sha256" in r.stdout


def test_infer_defaults_to_the_models_a_device_has(device_models: Path, edgepose: Cli) -> None:
    r = edgepose("infer", skimage_photo("astronaut.png"), models=device_models)
    assert r.returncode == 0, r.stderr[-2000:]
    frame = json.loads(r.stdout.splitlines()[0])
    assert len(frame["poses"]) == 1 and len(frame["poses"][0]["keypoints"]) == 33


def test_bench_defaults_to_the_models_a_device_has(device_models: Path, shared_data: Path, edgepose: Cli) -> None:
    video = shared_data / "videos/fitness_squats_tfjs.mp4"
    r = edgepose("bench", video, "--frames", "3", "--warmup", "1", "--json", models=device_models)
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads(r.stdout)["edgepose"]
    # The daemon's default precision ("auto") resolves to the int8 files a device has on this x86 CPU.
    assert (run["precision"], run["model"]) == ("auto", "lite"), run
    assert run["precision_stages"] == {"detector": "int8", "landmark": "int8"}, run
