"""Presence labels of a clip and the score of a replay's enter/leave events against them.

Labels file: the format of `../shared/data/videos/presence/labels.json`: {"videos": [{"file", "frames",
"person": [[first, last], ...], "empty": [[first, last], ...]}, ...]}, 0-based inclusive frame ranges.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.errors import EXIT_DATAERR, EdgeposeError

# Labels were set from contact sheets to ±10 frames: events that close to a visit's edge belong to it.
TOLERANCE_FRAMES = 10


class LabelsError(EdgeposeError, ValueError):
    """A labels file that cannot be read or does not fit the clip; the message names the entry."""

    exit_status = EXIT_DATAERR


@dataclass(frozen=True, slots=True)
class ClipLabels:
    file: str
    frames: int | None
    person: tuple[tuple[int, int], ...]
    empty: tuple[tuple[int, int], ...]


def _ranges(where: str, raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        raise LabelsError(f"{where}: must be an array of [first, last] frame ranges")
    out = []
    for r in raw:
        ok = isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in r)
        if not ok or r[0] < 0 or r[0] > r[1]:
            raise LabelsError(f"{where}: {r!r} is not a range [first, last] of frame numbers, first <= last")
        out.append((r[0], r[1]))
    return tuple(out)


def load_labels(path: Path, clip: str, frame_count: int | None) -> ClipLabels:
    """The entry for `clip` (file name) in `path`, checked against the clip's decoded `frame_count` (None:
    the file and the entry's form only)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LabelsError(f"{path}: cannot read: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LabelsError(f"{path}: not a JSON labels file: {e}") from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, list):
        raise LabelsError(f"{path}: no \"videos\" array")
    entry = next((v for v in videos if isinstance(v, dict) and v.get("file") == clip), None)
    if entry is None:
        raise LabelsError(f"{path}: no entry for {clip!r}")
    where = f"{path}: {clip}"
    person = _ranges(f"{where}: person", entry.get("person", []))
    empty = _ranges(f"{where}: empty", entry.get("empty", []))
    frames = entry.get("frames")
    if frames is not None and not isinstance(frames, int):
        raise LabelsError(f"{where}: frames must be an integer, got {frames!r}")
    labelled = sorted([(a, b, "person") for a, b in person] + [(a, b, "empty") for a, b in empty])
    for (a1, b1, k1), (a2, b2, k2) in itertools.pairwise(labelled):
        if a2 <= b1:
            raise LabelsError(f"{where}: {k1} range [{a1}, {b1}] overlaps {k2} range [{a2}, {b2}]")
    if frame_count is None:
        return ClipLabels(clip, frames, person, empty)
    if frames is not None and frames != frame_count:
        raise LabelsError(f"{where}: frames is {frames!r} but the clip has {frame_count} frames")
    for a, b, kind in labelled:
        if b >= frame_count:
            raise LabelsError(f"{where}: {kind} range [{a}, {b}] ends beyond the clip's last frame "
                              f"{frame_count - 1}")
    return ClipLabels(clip, frames, person, empty)


@dataclass(slots=True)
class Score:
    visits: int = 0
    enters: int = 0
    leaves: int = 0
    missed_enters: int = 0
    extra_enters: int = 0
    missed_leaves: int = 0
    extra_leaves: int = 0
    unobservable_leaves: int = 0  # the clip ends sooner than leave_seconds after the visit
    empty_frames: int = 0
    false_presence_frames: int = 0  # labelled empty, state present
    empty_frames_with_pose: int = 0  # labelled empty, a pose published
    enter_delays_s: list[float] = field(default_factory=list)
    leave_delays_s: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missed_enters or self.extra_enters or self.missed_leaves or self.extra_leaves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "visits": self.visits, "enters": self.enters, "leaves": self.leaves,
            "missed_enters": self.missed_enters, "extra_enters": self.extra_enters,
            "missed_leaves": self.missed_leaves, "extra_leaves": self.extra_leaves,
            "unobservable_leaves": self.unobservable_leaves,
            "empty_frames": self.empty_frames, "false_presence_frames": self.false_presence_frames,
            "empty_frames_with_pose": self.empty_frames_with_pose,
            "enter_delays_s": [round(d, 3) for d in self.enter_delays_s],
            "leave_delays_s": [round(d, 3) for d in self.leave_delays_s],
            "ok": self.ok,
        }  # fmt: skip


def score(labels: ClipLabels, events: list[tuple[str, int, float]], present: list[bool],
          posed: list[bool], frame_times: list[float], leave_seconds: float) -> Score:
    """Score (kind, frame, seconds) events; `present`/`posed`: per frame state and "a pose was published".

    A visit [a, b] is matched by the first enter in [a - tol, b] and by the first leave after it in
    [b - tol, next visit's start). No leave is expected when the clip ends less than `leave_seconds` after
    the visit (the state machine cannot have left yet): such a visit counts as `unobservable_leaves`, and a
    leave that happens anyway is still matched.
    """
    n = len(present)
    s = Score(visits=len(labels.person))
    enters = [(f, t) for k, f, t in events if k == "enter"]
    leaves = [(f, t) for k, f, t in events if k == "leave"]
    s.enters, s.leaves = len(enters), len(leaves)
    used_e: set[int] = set()
    used_l: set[int] = set()
    visits = sorted(labels.person)
    for vi, (a, b) in enumerate(visits):
        nxt = visits[vi + 1][0] if vi + 1 < len(visits) else n
        e = next((i for i, (f, _) in enumerate(enters) if i not in used_e and a - TOLERANCE_FRAMES <= f <= b), None)
        if e is None:
            s.missed_enters += 1
        else:
            used_e.add(e)
            s.enter_delays_s.append(enters[e][1] - frame_times[a])
        start = enters[e][0] if e is not None else a
        lv = next((i for i, (f, _) in enumerate(leaves) if i not in used_l and f > start
                   and b - TOLERANCE_FRAMES <= f < max(nxt, b + 1)), None)
        observable = b < n - 1 and frame_times[n - 1] - frame_times[b] >= leave_seconds
        if lv is None:
            if observable:
                s.missed_leaves += 1
            else:
                s.unobservable_leaves += 1
        else:
            used_l.add(lv)
            s.leave_delays_s.append(leaves[lv][1] - frame_times[min(b + 1, n - 1)])
    s.extra_enters = len(enters) - len(used_e)
    s.extra_leaves = len(leaves) - len(used_l)
    for a, b in labels.empty:
        for f in range(a, min(b, n - 1) + 1):
            s.empty_frames += 1
            s.false_presence_frames += present[f]
            s.empty_frames_with_pose += posed[f]
    return s
