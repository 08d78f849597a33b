"""The chained Edge TPU form (edgepose.inference.chain): stem → body → heads as one Backend gives the int8_mixed
file's outputs, the body goes through the (fake) Edge TPU delegate, `--edgetpu-form` runs it on the CPU, and bad
combinations fail in one line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.fake_edgetpu import FakeDelegate, fake_runtime
from support.paths import MODELS_DIR, REPO, skimage_photo

from edgepose.inference.backends import edgetpu
from edgepose.inference.backends.base import BackendError
from edgepose.inference.backends.cpu import InterpreterBackend
from edgepose.inference.chain import ChainBackend, landmark_chain, split_files
from edgepose.inference.pruning import is_mask_output

LITE = "pose_landmark_lite_int8.tflite"


def _crops() -> list[np.ndarray]:
    """Two real photos as 256² landmark inputs in [0, 1]."""
    out = []
    for name in ("astronaut.png", "camera.png"):
        rgb = cv2.cvtColor(cv2.imread(str(skimage_photo(name))), cv2.COLOR_BGR2RGB)
        out.append((cv2.resize(rgb, (256, 256)).astype(np.float32) / 255.0)[None])
    return out


def _split(model_file: str = LITE):
    files = split_files(MODELS_DIR, model_file)
    if files is None:
        pytest.fail(f"the Edge TPU form of {model_file} is not shipped (edgepose models build --edgetpu-inputs-only)")
    return files


@pytest.mark.parametrize("model", ["lite", "full", "heavy"])
def test_chain_equals_the_mixed_file_on_real_photos(model: str) -> None:
    """Tolerance 0: the parts pass their int8 tensors on unchanged, so the chain is the mixed file, bit for bit."""
    chain = ChainBackend(_split(f"pose_landmark_{model}_int8.tflite"), threads=1)
    mixed = InterpreterBackend(MODELS_DIR / f"pose_landmark_{model}_int8_mixed.tflite", threads=1,
                               drop_outputs=is_mask_output)  # fmt: skip
    assert sorted(o.shape for o in chain.outputs) == sorted(o.shape for o in mixed.outputs)
    assert chain.inputs[0].shape == (1, 256, 256, 3) and chain.inputs[0].dtype == np.int8
    presence = []
    for x in _crops():
        got = {o.shape: v for o, v in zip(chain.outputs, chain.run(x), strict=True)}
        want = {o.shape: v for o, v in zip(mixed.outputs, mixed.run(x), strict=True)}
        for shape, v in want.items():
            assert np.array_equal(got[shape], v), shape
        presence.append(float(got[(1, 1)][0, 0]))
    # A person on at least one crop: the comparison is on real landmarks. (The crops are whole photos squeezed to
    # 256², not ROI crops: full's float-stem file scores the camera man 0.44 there.)
    assert max(presence) > 0.5, presence


def _tpu_models_dir(tmp_path: Path) -> Path:
    """The split lite model with a 'compiled' body (a copy of the compiler input: the fake delegate runs it on
    the CPU), laid out as a device has it."""
    files = _split()
    (tmp_path / "edgetpu_src").mkdir()
    shutil.copy(files.body, tmp_path / "edgetpu_src" / files.body.name)
    shutil.copy(files.body, tmp_path / files.body.name.replace(".tflite", "_edgetpu.tflite"))
    for f in (files.stem, files.heads):
        shutil.copy(f, tmp_path / f.name)
    edgetpu._delegates.clear()
    return tmp_path


def test_body_runs_through_the_edgetpu_delegate(tmp_path: Path) -> None:
    models = _tpu_models_dir(tmp_path)
    rt = fake_runtime(device_present=True)
    b = landmark_chain(models, LITE, "edgetpu", device="usb:0", threads=1, runtime=rt)
    assert b is not None and b.name == "edgetpu:usb:0"
    assert rt.loaded == [("libedgetpu.so.1", {"device": "usb:0"})]
    (stem, d0), (body, d1), (heads, d2) = rt.loads
    assert (stem, body, heads) == ("pose_landmark_lite_int8_stem.tflite", "pose_landmark_lite_int8_body_edgetpu.tflite",
                                   "pose_landmark_lite_int8_heads.tflite")  # fmt: skip
    assert d0 is None and d2 is None and isinstance(d1[0], FakeDelegate)
    cpu = ChainBackend(_split(), threads=1)
    x = _crops()[0]
    for a, c in zip(b.run(x), cpu.run(x), strict=True):
        assert np.array_equal(a, c)


def test_auto_without_a_tpu_falls_back_loudly_and_edgetpu_fails(tmp_path: Path, caplog) -> None:
    models = _tpu_models_dir(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert landmark_chain(models, LITE, "auto", runtime=fake_runtime(device_present=False)) is None
    assert "Edge TPU not used" in caplog.text
    with pytest.raises(BackendError, match=r"loading libedgetpu.so.1 for device pci failed.*plugdev"):
        landmark_chain(models, LITE, "edgetpu", device="pci", runtime=fake_runtime(device_present=False))
    # Not compiled: "edgetpu" names the compiled body; "auto" and an older compiled full-int8 file use one file.
    (models / "pose_landmark_lite_int8_body_edgetpu.tflite").unlink()
    with pytest.raises(BackendError, match=r"compiled model .*pose_landmark_lite_int8_body_edgetpu.tflite is missing"):
        landmark_chain(models, LITE, "edgetpu", runtime=fake_runtime(device_present=True))
    assert landmark_chain(models, LITE, "auto", runtime=fake_runtime(device_present=True)) is None
    (models / "pose_landmark_lite_int8_edgetpu.tflite").write_bytes(b"")
    assert landmark_chain(models, LITE, "edgetpu", runtime=fake_runtime(device_present=True)) is None
    assert landmark_chain(models, LITE, "cpu") is None


def test_engine_runs_the_split_on_the_fake_tpu(tmp_path: Path, monkeypatch) -> None:
    """The engine with backend edgetpu: the compiled detector and the chain with the compiled body, both through
    the (fake) delegate, give the CPU int8 pipeline's pose on a real photo."""
    from support.engine import read_rgb

    from edgepose.engine.tracker import EngineConfig, PoseEngine
    from edgepose.inference import chain as chain_module
    from edgepose.inference import loading as backend_module

    models = _tpu_models_dir(tmp_path)
    shutil.copy(MODELS_DIR / "edgetpu_src/pose_detection_int8.tflite", models / "pose_detection_int8_edgetpu.tflite")
    shutil.copy(MODELS_DIR / "pose_detection_int8.tflite", models / "pose_detection_int8.tflite")
    rt = fake_runtime(device_present=True)
    monkeypatch.setattr(backend_module, "load_runtime", lambda preferred="auto": rt)
    monkeypatch.setattr(chain_module, "load_runtime", lambda preferred="auto": rt)
    tpu = PoseEngine.from_config(EngineConfig(model="lite", precision="int8", backend="edgetpu", static=True,
                                              threads=1, models_dir=models))  # fmt: skip
    assert tpu.landmarks.backend.name == "edgetpu:any"
    assert [s for s, d in rt.loads if d] == ["pose_detection_int8_edgetpu.tflite",
                                             "pose_landmark_lite_int8_body_edgetpu.tflite"]  # fmt: skip
    monkeypatch.undo()
    cpu = PoseEngine.from_config(EngineConfig(model="lite", precision="int8", backend="cpu", static=True, threads=1,
                                              models_dir=MODELS_DIR))  # fmt: skip
    rgb = read_rgb(skimage_photo("astronaut.png"))
    a, b = tpu.process(rgb).poses, cpu.process(rgb).poses
    assert len(a) == 1 and np.array_equal(a[0].xy_pixels(512, 512), b[0].xy_pixels(512, 512))


def test_edgetpu_form_without_the_split_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"edgetpu_src/pose_landmark_lite_int8_body.tflite is missing.*inputs-only"):
        landmark_chain(tmp_path, LITE, "cpu", edgetpu_form=True)


def _infer(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEPOSE_MODELS_DIR": str(MODELS_DIR)}
    return subprocess.run([sys.executable, "-m", "edgepose", "infer", str(skimage_photo("astronaut.png")),
                           "--model", "lite", "--threads", "1", *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)  # fmt: skip


def test_infer_edgetpu_form_matches_the_cpu_int8_pipeline() -> None:
    """The rewritten detector is bit-identical to the CPU's, the chain to the mixed file: the same poses."""
    tpu_form = _infer("--precision", "int8", "--edgetpu-form")
    cpu = _infer("--precision", "int8")
    assert tpu_form.returncode == 0 and cpu.returncode == 0, tpu_form.stderr + cpu.stderr
    a, b = (json.loads(r.stdout.splitlines()[0]) for r in (tpu_form, cpu))
    assert len(a["poses"]) == 1 and a["poses"] == b["poses"]


@pytest.mark.parametrize("args", [["--edgetpu-form"], ["--edgetpu-form", "--precision", "float"],
                                  ["--edgetpu-form", "--precision", "int8", "--backend", "edgetpu"]])  # fmt: skip
def test_infer_edgetpu_form_bad_combinations(args: list[str]) -> None:
    r = _infer(*args)
    assert r.returncode == 78, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--edgetpu-form needs --precision int8 and --backend cpu" in lines[0]


def test_engine_refuses_segmentation_with_the_edgetpu_form() -> None:
    from edgepose.engine.tracker import EngineConfig, PoseEngine
    from edgepose.model_files import ModelError

    config = EngineConfig(model="lite", precision="int8", backend="cpu", models_dir=MODELS_DIR, edgetpu_form=True,
                          segmentation=True)
    with pytest.raises(ModelError, match="no segmentation output"):
        PoseEngine.from_config(config)
