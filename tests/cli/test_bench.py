"""`edgepose bench`: the report's structure and what each configuration really ran (never its timings)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.engine import require_float_models
from support.paths import REPO


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEPOSE_MODELS_DIR": str(require_float_models())}
    return subprocess.run([sys.executable, "-m", "edgepose", "bench", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)  # fmt: skip


def test_compare_graph_and_precision_report(shared_data: Path) -> None:
    video = shared_data / "videos" / "fitness_squats_tfjs.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    r = bench(video, "--model", "lite", "--precision", "int8", "--threads", "1", "--frames", "8", "--warmup", "1",
              "--compare-graph", "--compare-precision", "--rounds", "2", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    runs = {k: report[k] for k in ("edgepose", "edgepose_float", "edgepose_full_graph")}
    assert [runs[k]["precision"] for k in runs] == ["int8", "float", "int8"]
    for name, run in runs.items():
        # Every configuration processed the same frames and tracked after one detection.
        assert run["frames"] == 8 and run["frames_with_pose"] == 8 and run["detector_runs"] == 1, name
        assert len(run["fps_rounds"]) == 2, name
        # The validity stage is timed on the same frames as smoothing (docs/presence.md, "Cost").
        assert run["mean_ms"]["validity"] > 0 and run["p50_validity_ms"] > 0, name
        assert run["validity_over_smoothing"] > 0, name
    # The default drops the unused segmentation head; --compare-graph's run computes it.
    assert runs["edgepose"]["landmark_ops_dropped"] > 0 and runs["edgepose_float"]["landmark_ops_dropped"] > 0
    assert runs["edgepose_full_graph"]["landmark_ops_dropped"] == 0
    for key in ("int8_landmark_invoke_speedup", "pruned_landmark_invoke_speedup"):
        assert math.isfinite(report[key]) and report[key] > 0, key


def test_missing_video_is_named(tmp_path: Path) -> None:
    r = bench(tmp_path / "nope.mp4", "--model", "lite")
    assert r.returncode == 66, r.stderr
    assert "nope.mp4" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.mediapipe
def test_against_mediapipe_reports_like_for_like_ratios(shared_data: Path) -> None:
    from edgepose_dev.reference.mediapipe_env import find_reference_python

    if find_reference_python() is None:
        pytest.skip("MediaPipe reference venv absent: python -m edgepose_dev.reference.mediapipe_env --create")
    video = shared_data / "videos" / "fitness_squats_tfjs.mp4"
    r = bench(video, "--model", "lite", "--precision", "float", "--frames", "6", "--warmup", "1", "--compare-graph",
              "--against", "mediapipe", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["mediapipe"]["frames"] == 6 and report["mediapipe"]["frames_with_pose"] == 6
    for key in ("fps_ratio_vs_mediapipe", "full_graph_fps_ratio_vs_mediapipe"):
        assert math.isfinite(report[key]) and report[key] > 0, key


def test_tiled_people_are_all_tracked_and_cost_is_per_person(shared_data: Path) -> None:
    video = shared_data / "videos" / "fitness_squats_tfjs.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found")
    r = bench(video, "--model", "lite", "--precision", "float", "--threads", "1", "--frames", "4", "--warmup", "0",
              "--tile", "4", "--max-poses", "4", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads(r.stdout)["edgepose"]
    # The lead-in found the four copies one by one: every timed frame has four people and no detector run.
    assert (run["max_poses"], run["poses_per_frame"], run["landmark_runs"], run["detector_runs"]) == (4, 4.0, 16, 0)
    assert run["ms_per_person"] > 0
