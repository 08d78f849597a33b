"""Issue 2, evidence 1 on pose.jpg, exactly: MediaPipe produced its golden detection from its own JPEG decode,
whose pixels differ from libjpeg-turbo's (OpenCV, Pillow) by up to a few LSB. Decoded by MediaPipe's decoder,
the same file gives edgepose's detector the golden detection to 1e-7 and the golden expanded ROI to 1e-6.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.engine import pbtxt_keypoints, read_rgb

from edgepose.engine.roi import roi_from_points
from edgepose.engine.tracker import PoseEngine
from edgepose_dev.reference.mediapipe_env import find_reference_python

pytestmark = pytest.mark.mediapipe

DECODE = """
import sys, types
# mediapipe imports matplotlib for drawing only; the reference venv leaves it out (as mediapipe_runner does).
mpl = types.ModuleType("matplotlib"); mpl.pyplot = types.ModuleType("matplotlib.pyplot")
sys.modules.update({"matplotlib": mpl, "matplotlib.pyplot": mpl.pyplot})
import mediapipe as mp, numpy as np
np.save(sys.argv[2], np.asarray(mp.Image.create_from_file(sys.argv[1]).numpy_view())[..., :3])
"""


def test_golden_detection_from_mediapipes_own_decode(shared_data: Path, tmp_path: Path,
                                                     static_full_k7: PoseEngine) -> None:  # fmt: skip
    python = find_reference_python()
    if python is None:
        pytest.skip("MediaPipe reference venv absent: python -m edgepose_dev.reference.mediapipe_env --create")
    jpg = shared_data / "images/unannotated/tfjs/pose.jpg"
    out = tmp_path / "pose_mp.npy"
    subprocess.run([str(python), "-I", "-c", DECODE, str(jpg), str(out)], check=True, capture_output=True, timeout=120)
    mp_pixels = np.ascontiguousarray(np.load(out))
    assert mp_pixels.shape == (667, 1000, 3)
    assert np.abs(mp_pixels.astype(int) - read_rgb(jpg).astype(int)).max() > 0  # the decoders do differ

    expected_kp = pbtxt_keypoints((shared_data / "golden/mediapipe_pose_expected_detection.pbtxt").read_text())
    dets = static_full_k7.detector.detect(mp_pixels)
    assert len(dets) == 1
    assert dets.scores[0] == pytest.approx(0.9843089, abs=1e-6)
    np.testing.assert_allclose(dets.keypoints[0], expected_kp, atol=1e-6)
    roi = roi_from_points(dets.keypoints[0, 0], dets.keypoints[0, 1], 1000, 667)
    np.testing.assert_allclose(
        roi.as_array(), (0.49192297, 0.7013345, 0.6317167, 0.9471016, -0.029253244), atol=1e-6
    )
