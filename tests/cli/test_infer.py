"""`edgepose infer` end to end: JSON Lines records, the summary line, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.engine import read_rgb, require_float_models
from support.paths import REPO, skimage_photo


def infer(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEPOSE_MODELS_DIR": str(require_float_models())}
    return subprocess.run([sys.executable, "-m", "edgepose", "infer", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)  # fmt: skip


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture()
def photo_variants(tmp_path: Path) -> Path:
    rgb = read_rgb(skimage_photo("astronaut.png"))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    d = tmp_path / "photos"
    d.mkdir()
    cv2.imwrite(str(d / "a_grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / "b_rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(d / "c_odd.png"), cv2.resize(bgr, (333, 517)))
    cv2.imwrite(str(d / "d_tiny.png"), cv2.resize(bgr, (3, 2)))
    cv2.imwrite(str(d / "e_16bit.png"), bgr.astype(np.uint16) * 257)
    (d / "f_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(d / "g_empty_room.png"), np.full((200, 300, 3), 127, np.uint8))
    return d


def test_directory_with_odd_images_and_one_broken(photo_variants: Path) -> None:
    proc = infer(photo_variants, "--model", "lite", "--precision", "float")
    assert proc.returncode == 65, proc.stderr  # a file that is not an image: bad data
    out = records(proc.stdout)
    by_name = {Path(r["source"]).name: r for r in out[:-1]}
    assert set(by_name) == {"a_grey.png", "b_rgba.png", "c_odd.png", "d_tiny.png", "e_16bit.png", "g_empty_room.png"}
    for name in ("a_grey.png", "b_rgba.png", "c_odd.png", "e_16bit.png"):
        (pose,) = by_name[name]["poses"]
        assert len(pose["keypoints"]) == 33 and all(len(k) == 5 for k in pose["keypoints"])
        assert len(pose["world"]) == 33 and all(len(w) == 3 for w in pose["world"])
    assert by_name["c_odd.png"]["width"] == 333 and by_name["c_odd.png"]["height"] == 517
    assert by_name["g_empty_room.png"]["poses"] == []
    assert by_name["d_tiny.png"]["width"] == 3  # processed, whatever it finds
    summary = out[-1]["summary"]
    assert summary["frames"] == 6 and summary["detector_runs"] == 6
    assert summary["failed"] == [f"{photo_variants / 'f_broken.jpg'}: not a readable image"]
    assert "f_broken.jpg" in proc.stderr


def test_missing_file_is_named_and_fails() -> None:
    proc = infer("/nonexistent/person.jpg")
    assert proc.returncode == 66
    assert "/nonexistent/person.jpg: no such file" in proc.stderr
    assert records(proc.stdout)[-1]["summary"]["frames"] == 0


def test_video_is_tracked_unless_static(shared_data: Path, tmp_path: Path) -> None:
    video = shared_data / "videos/dance_tfjs_pose_1.mp4"
    tracked = infer(video, "--model", "lite", "--precision", "float", "--max-frames", "10",
                    "--out", tmp_path / "t.jsonl")  # fmt: skip
    static = infer(video, "--model", "lite", "--precision", "float", "--max-frames", "10", "--static")
    assert tracked.returncode == 0 and static.returncode == 0, tracked.stderr + static.stderr
    t = records((tmp_path / "t.jsonl").read_text())
    assert [r["frame"] for r in t[:-1]] == list(range(10))
    assert t[-1]["summary"]["detector_runs"] == 1
    assert records(tracked.stdout)[-1] == t[-1]  # the summary is also printed when --out is used
    assert records(static.stdout)[-1]["summary"]["detector_runs"] == 10


def test_corrupt_model_file_is_named(tmp_path: Path) -> None:
    models = require_float_models()
    bad = tmp_path / "models"
    (bad / "float").mkdir(parents=True)
    for f in (models / "float").iterdir():
        (bad / "float" / f.name).symlink_to(f)
    (bad / "float/pose_landmark_lite.tflite").unlink()
    (bad / "float/pose_landmark_lite.tflite").write_bytes(b"truncated")
    proc = infer(skimage_photo("astronaut.png"), "--model", "lite", "--precision", "float", "--models-dir", bad)
    assert proc.returncode == 66
    assert "pose_landmark_lite.tflite has sha256" in proc.stderr and "edgepose models fetch" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_max_poses_lines_carry_track_ids(shared_data: Path) -> None:
    # The tracker's ids (--no-validity: the validity stage holds back the first frames of a still person).
    proc = infer(shared_data / "videos/two_people_hug.mp4", "--model", "lite", "--precision", "float",
                 "--max-frames", "4", "--max-poses", "2", "--no-validity")
    assert proc.returncode == 0, proc.stderr
    frames = records(proc.stdout)[:-1]
    assert [[p["id"] for p in f["poses"]] for f in frames] == [[0], [0], [0, 1], [0, 1]]
    bad = infer(shared_data / "videos/two_people_hug.mp4", "--max-poses", "0")
    assert bad.returncode == 78
    assert bad.stderr.strip().splitlines()[-1].endswith("--max-poses: 0 is out of range; allowed: 1 to 16")


def test_config_file_gives_the_daemons_validity_settings(tmp_path: Path) -> None:
    photo = skimage_photo("astronaut.png")
    strict = tmp_path / "strict.toml"
    strict.write_text("[validity]\nmin_pose_score = 1.0\n")  # no pose scores 1: every pose is rejected
    plain = infer(photo, "--model", "lite", "--precision", "float")
    assert plain.returncode == 0, plain.stderr
    assert len(records(plain.stdout)[0]["poses"]) == 1
    proc = infer(photo, "--model", "lite", "--precision", "float", "--config", strict)
    assert proc.returncode == 0, proc.stderr
    frame, summary = records(proc.stdout)
    assert frame["poses"] == [] and summary["summary"]["validity_rejected"] == {"score": 1}
    off = infer(photo, "--model", "lite", "--precision", "float", "--config", strict, "--no-validity")
    assert len(records(off.stdout)[0]["poses"]) == 1


def test_invalid_config_file_is_one_line_before_any_model_loads(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[zones]]\nname = "tv"\nkind = "mask"\npolygon = [[0, 0], [1, 0]]\n')
    proc = infer(skimage_photo("astronaut.png"), "--config", bad, "--models-dir", tmp_path / "no-models")
    assert proc.returncode == 78 and proc.stdout == ""
    assert "zones.tv" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
