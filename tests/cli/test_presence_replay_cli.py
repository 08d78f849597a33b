"""`edgepose presence replay`: the timeline, the score against labels and the errors for bad labels files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import SHARED_DATA

PRESENCE = SHARED_DATA / "videos" / "presence"
CLIP = "casiab_001-nm-01-090.avi"  # 106 frames, one visit [37, 105]


@pytest.fixture(scope="module")
def clip() -> Path:
    if not (PRESENCE / CLIP).is_file():
        pytest.skip(f"presence clips not found at {PRESENCE} (set EDGEPOSE_TEST_DATA)")
    return PRESENCE / CLIP


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepose", "presence", "replay", *args, "--backend", "cpu"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def labels_file(tmp_path: Path, entry: dict) -> Path:
    p = tmp_path / "labels.json"
    p.write_text(json.dumps({"videos": [{"file": CLIP, **entry}]}))
    return p


def test_timeline_and_score(clip: Path) -> None:
    p = replay(str(clip), "--labels", str(PRESENCE / "labels.json"))
    assert p.returncode == 0, p.stderr
    assert "enter  frame" in p.stdout and "visits 1: enters 1 (missed 0, extra 0)" in p.stdout
    assert "OK" in p.stdout
    j = replay(str(clip), "--labels", str(PRESENCE / "labels.json"), "--json")
    result = json.loads(j.stdout)
    assert result["frames"] == 106 and result["score"]["ok"] and result["events"][0]["kind"] == "enter"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"person": [[37, 120]], "empty": [[0, 36]]}, "person range [37, 120] ends beyond the clip's last frame 105"),
        ({"person": [[30, 105]], "empty": [[0, 36]]}, "empty range [0, 36] overlaps person range [30, 105]"),
        ({"person": [[50, 40]]}, "person: [50, 40] is not a range"),
        ({"frames": 200, "person": [[37, 105]]}, "frames is 200 but the clip has 106 frames"),
    ],
)
def test_labels_that_do_not_fit_the_clip(clip: Path, tmp_path: Path, entry: dict, message: str) -> None:
    p = replay(str(clip), "--labels", str(labels_file(tmp_path, entry)))
    assert p.returncode == 65, p.stderr
    err = p.stderr.strip().splitlines()[-1]
    assert CLIP in err and message in err, err


def test_labels_without_the_clip_and_missing_video(clip: Path, tmp_path: Path) -> None:
    other = tmp_path / "labels.json"
    other.write_text(json.dumps({"videos": [{"file": "other.avi", "person": []}]}))
    p = replay(str(clip), "--labels", str(other))
    assert p.returncode == 65 and f"no entry for '{CLIP}'" in p.stderr
    p = replay(str(tmp_path / "nope.avi"))
    assert p.returncode == 66 and "no such video file" in p.stderr
