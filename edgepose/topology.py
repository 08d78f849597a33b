"""The BlazePose keypoint topology: the 33 names, the 35 skeleton edges and the COCO-17 mapping.

Indices follow MediaPipe's legacy graph (spec §7). "Left" and "right" are the person's own sides.
"""

from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 33
# Model outputs: 33 pose landmarks, 2 auxiliary points used for tracking (33, 34), 4 unused (35-38).
NUM_MODEL_LANDMARKS = 39
AUX_CENTER = 33  # mid-hip, same meaning as detector keypoint 0
AUX_SCALE = 34  # full-body size/rotation point, same meaning as detector keypoint 1

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
KEYPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
# Each keypoint's counterpart in a horizontally mirrored picture (left ↔ right; the nose is its own):
# keypoints[MIRRORED] of a pose found on a mirrored image puts each side's points back under their names.
MIRRORED: tuple[int, ...] = tuple(
    KEYPOINT_INDEX[n.replace("left", "#").replace("right", "left").replace("#", "right")] for n in KEYPOINT_NAMES
)

SKELETON_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)  # fmt: skip

COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# BlazePose index of each COCO-17 keypoint, in COCO order: keypoints[COCO17_FROM_BLAZEPOSE] is COCO-ordered.
COCO17_FROM_BLAZEPOSE: np.ndarray = np.array([KEYPOINT_INDEX[n] for n in COCO17_NAMES], dtype=np.intp)

# The torso points used for presence decisions and the PCK torso size.
TORSO: tuple[int, ...] = (
    KEYPOINT_INDEX["left_shoulder"],
    KEYPOINT_INDEX["right_shoulder"],
    KEYPOINT_INDEX["left_hip"],
    KEYPOINT_INDEX["right_hip"],
)
