"""`edgepose infer`: run the engine on images, directories and videos; JSON Lines out, a summary last."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from edgepose.commands.common import (
    InputError,
    InputFrame,
    add_device_engine_args,
    add_edgetpu_form_arg,
    add_validity_config_arg,
    build_engine,
    engine_config,
    expand_sources,
    is_video,
    read_image,
    read_video,
    validity_settings,
)
from edgepose.daemon.pipeline import accepted_only, validity_stage
from edgepose.engine.tracker import PoseEngine
from edgepose.errors import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("infer", help="run pose estimation on images, directories of images or videos")
    p.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="image, directory or video file")
    add_device_engine_args(p)
    add_edgetpu_form_arg(p)
    p.add_argument("--static", action="store_true", help="treat video frames independently (no tracking)")
    p.add_argument("--out", type=Path, default=None, help="write JSON Lines here instead of standard output")
    p.add_argument("--max-frames", type=int, default=None, help="stop each video after N frames")
    p.add_argument("--no-validity", action="store_true", help="show the raw engine (no pose-validity stage)")
    add_validity_config_arg(p)
    p.set_defaults(func=run)


def frame_record(item: InputFrame, result_dict: dict[str, Any]) -> dict[str, Any]:
    return {"source": item.source, "frame": item.frame, **result_dict}


def run(args: argparse.Namespace) -> int:
    enabled = not args.no_validity
    settings = validity_settings(args)  # checked before any model loads
    config = engine_config(args, static=args.static, mirror=enabled)
    tracker = build_engine(config)
    # Separate photos are never tracked: one static engine serves them, sharing the tracker's models; with
    # validity it also computes the mirrored poses the person score judges photos with.
    photo_engine = PoseEngine(tracker.detector, tracker.landmarks, static=True, max_poses=config.max_poses,
                              mirror=enabled)
    # The daemon's validity stage with the configuration's thresholds and zones (photos: the per-frame rules only).
    video_validity = validity_stage(settings, static=args.static, enabled=enabled)
    photo_validity = validity_stage(settings, static=True, enabled=enabled)
    out: IO[str] = args.out.open("w", encoding="utf-8") if args.out else sys.stdout
    failures: list[str] = []
    status = EXIT_OK  # of the first failed input: 66 no such file, 65 not an image or video
    frames = with_pose = 0
    total_ms = 0.0
    try:
        for path in expand_sources(args.sources):
            try:
                if is_video(path):
                    tracker.reset()
                    video_validity.reset()
                    items = read_video(path, args.max_frames)
                    eng, validity = tracker, video_validity
                else:
                    items = iter([InputFrame(str(path), 0, read_image(path), None)])
                    eng, validity = photo_engine, photo_validity
                for item in items:
                    t0 = time.perf_counter()
                    raw = eng.process(item.rgb, item.timestamp_ns)
                    result = accepted_only(raw, validity.process(raw, item.rgb))
                    total_ms += (time.perf_counter() - t0) * 1e3
                    frames += 1
                    with_pose += bool(result.poses)
                    out.write(json.dumps(frame_record(item, result.to_dict()), separators=(",", ":")) + "\n")
            except InputError as e:
                failures.append(str(e))
                status = status or e.exit_status
                print(f"edgepose infer: {e}", file=sys.stderr)
        detector_runs = tracker.stats.detector_runs + photo_engine.stats.detector_runs
        summary = {
            "summary": {
                "frames": frames,
                "frames_with_pose": with_pose,
                "detector_runs": detector_runs,
                "mean_ms_per_frame": round(total_ms / frames, 3) if frames else None,
                "validity": enabled,
                "validity_rejected": dict(sorted((video_validity.rejections + photo_validity.rejections).items())),
                "failed": failures,
            }
        }
        line = json.dumps(summary, separators=(",", ":"))
        out.write(line + "\n")
        if args.out:
            print(line)
    finally:
        if args.out:
            out.close()
    if failures:
        print(f"edgepose infer: {len(failures)} input(s) failed: " + "; ".join(failures), file=sys.stderr)
    return status
