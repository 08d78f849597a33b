"""Edge TPU backend selection and its errors, with an injected fake delegate (no TPU on CI machines).

The fake runtime is the real LiteRT module with `load_delegate` replaced, and an Interpreter that records the
delegates it was given and otherwise runs the model on the CPU: the same interface the real TPU path uses.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.engine import require_float_models
from support.fake_edgetpu import FakeDelegate, fake_runtime

from edgepose.inference.backends import edgetpu
from edgepose.inference.backends.base import BackendError


@pytest.fixture()
def int8_dir(tmp_path: Path) -> Path:
    """A models dir where the 'int8' and 'compiled' files are copies of a real model (shapes are what matter)."""
    src = require_float_models() / "float/pose_landmark_lite.tflite"
    shutil.copy(src, tmp_path / "pose_landmark_lite_int8.tflite")
    shutil.copy(src, tmp_path / "pose_landmark_lite_int8_edgetpu.tflite")
    edgetpu._delegates.clear()
    return tmp_path


def test_edgetpu_loads_compiled_model_with_device_option(int8_dir: Path) -> None:
    rt = fake_runtime(device_present=True)
    b = edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "edgetpu",
                                       threads=1, device="usb:0", runtime=rt)  # fmt: skip
    assert b.name == "edgetpu:usb:0"
    assert b.path.name == "pose_landmark_lite_int8_edgetpu.tflite"
    assert rt.loaded == [("libedgetpu.so.1", {"device": "usb:0"})]
    assert isinstance(rt.delegates[0], FakeDelegate)
    out = b.run(np.zeros((1, 256, 256, 3), np.float32))
    assert any(o.shape == (1, 195) for o in out)
    # The second model on the same device shares the delegate (one TPU, one parameter cache).
    edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "edgetpu", threads=1,
                                   device="usb:0", runtime=rt)  # fmt: skip
    assert len(rt.loaded) == 1


def test_auto_falls_back_to_cpu_loudly(int8_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    rt = fake_runtime(device_present=False)
    with caplog.at_level(logging.WARNING):
        b = edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "auto",
                                           threads=1, device=None, runtime=rt)  # fmt: skip
    assert b.name == "cpu"
    assert b.path.name == "pose_landmark_lite_int8.tflite"
    assert "Failed to load delegate from libedgetpu.so.1" in b.note
    assert "Edge TPU not used" in caplog.text


def test_explicit_edgetpu_without_device_says_what_and_how(int8_dir: Path) -> None:
    with pytest.raises(BackendError) as e:
        edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "edgetpu",
                                       threads=1, device="pci", runtime=fake_runtime(device_present=False))  # fmt: skip
    msg = str(e.value)
    assert "loading libedgetpu.so.1 for device pci failed" in msg
    assert "install libedgetpu" in msg and "plugdev" in msg


def test_missing_compiled_model_is_named(int8_dir: Path) -> None:
    (int8_dir / "pose_landmark_lite_int8_edgetpu.tflite").unlink()
    with pytest.raises(BackendError, match=r"compiled model .*pose_landmark_lite_int8_edgetpu.tflite is missing"):
        edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "edgetpu",
                                       threads=1, device=None, runtime=fake_runtime(device_present=True))  # fmt: skip


def test_float_model_is_refused_for_edgetpu() -> None:
    path = require_float_models() / "float/pose_landmark_lite.tflite"
    with pytest.raises(BackendError, match=r"not an int8 model"):
        edgetpu.create_edgetpu_backend(path, "edgetpu", threads=1, device=None,
                                       runtime=fake_runtime(device_present=True))  # fmt: skip


@pytest.mark.parametrize("device", ["usb:x", "tpu", "pci:-1", ""])
def test_bad_device_string(device: str) -> None:
    with pytest.raises(BackendError, match=r"invalid Edge TPU device"):
        edgetpu.validate_device(device)


def test_unknown_backend_name() -> None:
    from edgepose.inference.loading import create_backend

    with pytest.raises(BackendError, match=r"unknown backend 'gpu'; choose auto, cpu or edgetpu"):
        create_backend(Path("x.tflite"), "gpu")


def test_compiled_model_runs_whole_and_cpu_fallback_is_pruned(int8_dir: Path) -> None:
    """A compiled model is one custom op: it is loaded as it is. The CPU fallback drops the unused mask head."""
    from edgepose.inference.pruning import is_mask_output

    rt = fake_runtime(device_present=True)
    b = edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "edgetpu", threads=1,
                                       device=None, runtime=rt, drop_outputs=is_mask_output)  # fmt: skip
    assert rt.sources == ["pose_landmark_lite_int8_edgetpu.tflite"] and b.pruned is None
    edgetpu._delegates.clear()
    rt = fake_runtime(device_present=False)
    b = edgetpu.create_edgetpu_backend(int8_dir / "pose_landmark_lite_int8.tflite", "auto", threads=1,
                                       device=None, runtime=rt, drop_outputs=is_mask_output)  # fmt: skip
    assert b.name == "cpu" and rt.sources == ["content"] and b.pruned is not None
    assert not any(is_mask_output(o.shape) for o in b.outputs)
