"""`edgepose bench`: per-stage timing of the tracking pipeline on decoded video frames, optionally against
MediaPipe's legacy `Pose` on the same frames in the same run.

Frames are decoded before any timing. A benchmark reports; it never asserts (tests never time anything).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgepose import plugins
from edgepose.commands.common import InputError, add_device_engine_args, build_engine, engine_config, read_video
from edgepose.config import Config
from edgepose.daemon.pipeline import validity_stage
from edgepose.errors import EXIT_NOINPUT, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, CommandError, EdgeposeError
from edgepose.model_files import COMPLEXITIES

STAGES = ("detector", "crop", "landmark_invoke", "decode", "smoothing", "validity", "total")
PER_PERSON_STAGES = ("crop", "landmark_invoke", "decode", "smoothing")


TILE_COLUMNS = 3
LEAD_IN_FRAMES = 3  # frames per newly shown copy before timing (the detector finds one newcomer at a time)


def tile_frame(rgb: np.ndarray, copies: int, shown: int | None = None) -> np.ndarray:
    """`copies` copies of a frame, up to 3 per row, rows a quarter frame apart (BlazePose's detector misses
    people stacked right above each other); only the first `shown` are drawn, the rest black."""
    cols = min(copies, TILE_COLUMNS)
    rows = -(-copies // cols)
    h, w = rgb.shape[:2]
    gap = h // 4
    out = np.zeros((rows * h + (rows - 1) * gap, cols * w, 3), np.uint8)
    for i in range(copies if shown is None else shown):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * w:(c + 1) * w] = rgb
    return out


def lead_in(first: np.ndarray, copies: int) -> list[np.ndarray]:
    """Untimed frames that show the copies one more at a time, so that the tracker has found all of them when
    timing starts (on the full grid at once the detector finds only some)."""
    if copies == 1:
        return []
    return [tile_frame(first, copies, k) for k in range(1, copies + 1) for _ in range(LEAD_IN_FRAMES)]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="time the pipeline stage by stage on a video (optionally vs MediaPipe)")
    p.add_argument("video", type=Path, metavar="VIDEO")
    add_device_engine_args(p)
    p.add_argument("--frames", type=int, default=None, help="use at most N frames of the video")
    p.add_argument("--repeat", type=int, default=1, help="run the frame sequence N times (tracking restarts)")
    p.add_argument("--warmup", type=int, default=3, help="untimed frames before measuring")
    p.add_argument("--against", choices=("mediapipe",), default=None, help="also run the reference (edgepose-dev)")
    p.add_argument("--compare-precision", action="store_true",
                   help="run both float and int8 models (ratios of invoke times in the same run)")
    p.add_argument("--compare-graph", action="store_true",
                   help="also run the whole landmark graph, segmentation head included (what dropping it saves)")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate the configurations N times and report medians (robust on a busy machine)")
    p.add_argument("--tile", type=int, default=1,
                   help="N copies of each frame in a grid (N people from a one-person video, found one by one "
                        "in untimed lead-in frames; with --max-poses N: the cost per person)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_engine(
    args: argparse.Namespace, frames: list[np.ndarray], timestamps: list[int], engine: Any = None,
    lead: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    engine = engine or build_engine(engine_config(args))
    validity = validity_stage(Config())  # the daemon's stage after the engine, timed as its own stage
    for rgb, ts in zip(frames[: args.warmup], timestamps, strict=False):
        engine.process(rgb, ts)
    per_frame: list[dict[str, float]] = []
    detector_runs = with_pose = poses = landmark_runs = 0
    lead = lead or []
    frame_ns = timestamps[1] - timestamps[0] if len(timestamps) > 1 else 33_333_333
    step = timestamps[-1] + frame_ns * (len(lead) + 1)
    wall = 0.0
    for rep in range(args.repeat):
        engine.reset()
        validity.reset()
        base = (rep + 1) * step
        for i, rgb in enumerate(lead):  # untimed: the tracker finds the people one by one (--tile)
            engine.process(rgb, base + (i - len(lead)) * frame_ns)
        wall0 = time.perf_counter()
        for rgb, ts in zip(frames, timestamps, strict=True):
            validity.prepare(rgb)  # as the daemon's pipeline does, before the engine
            r = engine.process(rgb, ts + (rep + 1) * step)  # strictly increasing across repeats
            validity.process(r, rgb)
            per_frame.append({"tracked": float(not r.detector_ran), **r.timings_ms})
            detector_runs += r.detector_ran
            with_pose += bool(r.poses)
            poses += len(r.poses)
            landmark_runs += r.landmark_runs
        wall += time.perf_counter() - wall0
    n = len(per_frame)
    mean = {s: float(np.sum([f.get(s, 0.0) for f in per_frame]) / n) for s in STAGES}
    tracked = [f for f in per_frame if f["tracked"]]
    invoke_tracked = float(np.mean([f["landmark_invoke"] for f in tracked])) if tracked else float("nan")
    outside_tracked = float(np.mean([f["total"] - f["landmark_invoke"] for f in tracked])) if tracked else float("nan")
    return {
        "model": args.model,
        "precision": args.precision,
        # The forms the models ran in ("auto" resolved for this CPU, edgepose.inference.cpu_choice).
        "precision_stages": ({"detector": ch.detector, "landmark": ch.landmark}
                             if (ch := getattr(engine, "precision", None)) is not None else None),
        "backend": engine.backend_name,
        # Ops of the landmark model not run because their outputs are unused (edgepose.inference.pruning).
        "landmark_ops_dropped": pruned.removed_ops if (pruned := getattr(engine.landmarks.backend, "pruned", None))
        else 0,
        "threads": args.threads,
        "frames": n,
        "frames_with_pose": with_pose,
        "detector_runs": detector_runs,
        "max_poses": engine.max_poses,
        "poses_per_frame": poses / n,
        "landmark_runs": landmark_runs,
        # The landmark stages (crop, invoke, decode, smoothing) per person: what each further person costs.
        "ms_per_person": float(sum(mean[s] for s in PER_PERSON_STAGES) * n / landmark_runs) if landmark_runs
        else None,
        "fps": n / wall,
        "mean_ms": mean,
        "p50_total_ms": float(np.percentile([f["total"] for f in per_frame], 50)),
        "p99_total_ms": float(np.percentile([f["total"] for f in per_frame], 99)),
        # Validity's cost as a share of the engine's (both measured on the same frames in this run).
        "validity_over_total": mean["validity"] / mean["total"] if mean["total"] else None,
        "validity_over_smoothing": mean["validity"] / mean["smoothing"] if mean["smoothing"] else None,
        # The median frame: on a shared machine the mean of a sub-millisecond stage is mostly preemptions.
        "p50_validity_ms": float(np.percentile([f.get("validity", 0.0) for f in per_frame], 50)),
        "tracked_frames": len(tracked),
        "tracked_outside_invoke_ratio": outside_tracked / invoke_tracked if tracked else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def bench_mediapipe(
    args: argparse.Namespace, frames: list[np.ndarray], run_reference: Callable[..., plugins.ReferenceRun]
) -> dict[str, Any]:
    stack = np.stack(frames)
    if args.repeat > 1:
        stack = np.concatenate([stack] * args.repeat)
    try:
        ref = run_reference(stack, model_complexity=COMPLEXITIES.index(args.model), static=False)
    except EdgeposeError as e:  # the reference venv is missing, or the reference failed
        raise CommandError(f"MediaPipe reference: {e}", EXIT_UNAVAILABLE) from None
    return {
        "frames": ref.frames,
        "frames_with_pose": int(ref.found.sum()),
        "fps": ref.fps,
        "mean_ms": ref.total_ms / ref.frames,
        "cores_used": ref.cores_used,
        "versions": ref.info.get("versions", ref.info),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median fps, annotated with every round's fps."""
    ordered = sorted(runs, key=lambda r: r["fps"])
    out = dict(ordered[len(ordered) // 2])
    out["fps_rounds"] = [round(r["fps"], 2) for r in runs]
    return out


def run(args: argparse.Namespace) -> int:
    # The reference comes with edgepose-dev: without it, one line says what to install, before any work.
    run_reference = plugins.reference(args.against) if args.against else None
    try:
        decoded = list(read_video(args.video, args.frames))
    except InputError as e:
        raise CommandError(str(e), EXIT_NOINPUT) from None
    if args.tile < 1:
        raise CommandError(f"--tile must be at least 1, got {args.tile}", EXIT_USAGE)
    frames = [f.rgb if args.tile == 1 else tile_frame(f.rgb, args.tile) for f in decoded]
    lead = lead_in(decoded[0].rgb, args.tile)
    timestamps = [int(f.timestamp_ns or 0) for f in decoded]
    # Configurations run in the same process, interleaved round by round; the last one is "edgepose".
    configs: dict[str, argparse.Namespace] = {}
    if args.compare_graph:
        configs["full_graph"] = argparse.Namespace(**vars(args), full_graph=True)
    if args.compare_precision:
        configs["float"] = argparse.Namespace(**{**vars(args), "precision": "float"})
        configs["int8"] = argparse.Namespace(**{**vars(args), "precision": "int8"})
    else:
        configs[args.precision] = args
    engines = {k: build_engine(replace(engine_config(a), full_graph=k == "full_graph")) for k, a in configs.items()}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in configs}
    ref_runs: list[dict[str, Any]] = []
    for _ in range(max(1, args.rounds)):  # interleaved, so that load from elsewhere hits every config alike
        for k, a in configs.items():
            runs[k].append(bench_engine(a, frames, timestamps, engines[k], lead))
        if run_reference is not None:
            ref_runs.append(bench_mediapipe(args, frames, run_reference))
    main = list(configs)[-1]
    report: dict[str, Any] = {"video": str(args.video), "rounds": max(1, args.rounds)}
    report["edgepose"] = _median_run(runs[main])

    def invoke_ratio(slow: str, fast: str) -> float:
        return float(np.median([s["mean_ms"]["landmark_invoke"] / f["mean_ms"]["landmark_invoke"]
                                for s, f in zip(runs[slow], runs[fast], strict=True)]))  # fmt: skip

    if args.compare_precision:
        report["edgepose_float"] = _median_run(runs["float"])
        report["int8_landmark_invoke_speedup"] = invoke_ratio("float", "int8")
    if args.compare_graph:
        report["edgepose_full_graph"] = _median_run(runs["full_graph"])
        report["pruned_landmark_invoke_speedup"] = invoke_ratio("full_graph", main)
    if ref_runs:
        report["mediapipe"] = _median_run(ref_runs)

        def fps_ratio(key: str) -> float:
            return float(np.median([e["fps"] / m["fps"] for e, m in zip(runs[key], ref_runs, strict=True)]))

        report["fps_ratio_vs_mediapipe"] = fps_ratio(main)
        if args.compare_precision:
            report["float_fps_ratio_vs_mediapipe"] = fps_ratio("float")
        if args.compare_graph:  # like for like: MediaPipe computes the segmentation head too
            report["full_graph_fps_ratio_vs_mediapipe"] = fps_ratio("full_graph")
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    e = report["edgepose"]
    print(f"{args.video.name}: {e['frames']} frames, {e['model']} {e['precision']} on {e['backend']}, "
          f"threads {e['threads'] or 'default'}")  # fmt: skip
    print(f"  edgepose   {e['fps']:7.1f} fps  p50 {e['p50_total_ms']:.1f} ms  p99 {e['p99_total_ms']:.1f} ms  "
          f"detector runs {e['detector_runs']}  poses {e['frames_with_pose']}/{e['frames']}  "
          f"peak RSS {e['peak_rss_mb']:.0f} MB")  # fmt: skip
    print("  mean ms per frame: " + "  ".join(f"{s} {e['mean_ms'][s]:.2f}" for s in STAGES))
    if e["ms_per_person"] is not None:
        print(f"  people: max_poses {e['max_poses']}, {e['poses_per_frame']:.2f} poses per frame, "
              f"{e['ms_per_person']:.2f} ms per person (crop + landmark invoke + decode + smoothing)")
    ratio = e["tracked_outside_invoke_ratio"]
    if ratio is not None:
        print(f"  tracked frames: everything outside the landmark invoke = {100 * ratio:.1f} % of the invoke time")
    if "edgepose_float" in report:
        f = report["edgepose_float"]
        print(f"  float      {f['fps']:7.1f} fps  landmark invoke {f['mean_ms']['landmark_invoke']:.2f} ms, "
              f"detector {f['mean_ms']['detector']:.2f} ms/frame")  # fmt: skip
        print(f"  int8 landmark invoke speed-up over float (median of rounds) = "
              f"{report['int8_landmark_invoke_speedup']:.2f}x")  # fmt: skip
    if "edgepose_full_graph" in report:
        g = report["edgepose_full_graph"]
        print(f"  whole graph {g['fps']:6.1f} fps  landmark invoke {g['mean_ms']['landmark_invoke']:.2f} ms "
              f"(segmentation head computed and thrown away)")  # fmt: skip
        print(f"  landmark invoke speed-up from not computing the segmentation head (median of rounds) = "
              f"{report['pruned_landmark_invoke_speedup']:.2f}x")  # fmt: skip
    if "mediapipe" in report:
        m = report["mediapipe"]
        print(f"  mediapipe  {m['fps']:7.1f} fps  poses {m['frames_with_pose']}/{m['frames']}  "
              f"cores used {m['cores_used']:.2f}")  # fmt: skip
        print(f"  fps ratio edgepose / mediapipe = {report['fps_ratio_vs_mediapipe']:.2f} "
              f"(median over {report['rounds']} interleaved round(s))")  # fmt: skip
        if "float_fps_ratio_vs_mediapipe" in report:
            print(f"  fps ratio edgepose float / mediapipe = {report['float_fps_ratio_vs_mediapipe']:.2f}")
        if "full_graph_fps_ratio_vs_mediapipe" in report:
            print(f"  fps ratio edgepose whole graph / mediapipe = "
                  f"{report['full_graph_fps_ratio_vs_mediapipe']:.2f}")  # fmt: skip
    return EXIT_OK
