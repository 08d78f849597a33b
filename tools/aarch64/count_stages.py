"""Instructions per invoke of every model form under qemu as a Pi's CPU, by instruction class, and the estimated
milliseconds per frame on a Pi 4 / Pi 5 from them (cost model: tools/aarch64/cost_model.py, docs/pi.md).

    python tools/aarch64/count_stages.py pi4 pi5 [--invokes 3] [--json out.json]
    python tools/aarch64/count_stages.py --from-json out.json     # the tables again, from saved counts
    python tools/aarch64/count_stages.py pi4 pi5 --only detector/int8 --merge tools/aarch64/counts.json \
        --json tools/aarch64/counts.json                          # re-count the forms whose file changed

tools/aarch64/counts.json holds the counts behind docs/pi.md §4.

Builds the TCG plugin (tools/aarch64/plugin/insn_classes.c) with the host's C compiler, and runs
tools/aarch64/guest_invoke.py under Debian's dynamic qemu-aarch64 (the static one cannot load plugins) in the
root of tools/aarch64/build_root.sh. One guest thread: counts are per invoke on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from cost_model import CORES, bottleneck, estimate_ms  # noqa: E402

from edgepose.inference.cpu_choice import choose_precision, parse_cpuinfo  # noqa: E402
from edgepose.model_files import default_models_dir, landmark_model_for  # noqa: E402

STAGES = ("detector", "lite", "full", "heavy")


def forms(models_dir: Path, board: str) -> dict[str, str]:
    """NAME → file, as the engine picks them on the CPU (int8: the int8 detector and the mixed landmark files);
    fp16 only where the core has FP16 arithmetic; and lite's whole graph as MediaPipe runs it (§7 of docs/pi.md)."""
    out = {"detector/float": "float/pose_detection.tflite", "detector/int8": "pose_detection_int8.tflite"}
    for m in STAGES[1:]:
        out[f"{m}/float"] = f"float/pose_landmark_{m}.tflite"
        out[f"{m}/int8"] = landmark_model_for(models_dir, m, "int8", "cpu")
        if CORES[board].fp16:
            out[f"{m}/fp16"] = f"float/pose_landmark_{m}.tflite@fp16"
    out["lite/float, whole graph"] = "float/pose_landmark_lite.tflite@whole"
    return out


def build_plugin(out_dir: Path) -> Path:
    lib = out_dir / "libinsn_classes.so"
    src = HERE / "plugin" / "insn_classes.c"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-Wall", "-o", str(lib), str(src)], check=True)
    return lib


def count(board: str, models_dir: Path, invokes: int, plugin: Path, work: Path,
          only: frozenset[str] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """{form: {class: instructions per invoke}} for one board (the forms named in `only`, if given)."""
    out = work / f"counts-{board}.txt"
    env = {**os.environ, "QEMU": "qemu-aarch64", "QEMU_EXTRA_ARGS": f"-plugin {plugin},out={out}"}
    items = [f"{k}={v}" for k, v in forms(models_dir, board).items() if only is None or k in only]
    proc = subprocess.run([str(HERE / "run.sh"), board, str(HERE / "guest_invoke.py"), "--models-dir",
                           str(models_dir), "--invokes", str(invokes), *items],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{board}: guest failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    names = [line.split(" ", 1)[1].rsplit(" ", 1)[0] for line in proc.stdout.splitlines() if line.startswith("model ")]
    lines = out.read_text().splitlines()
    classes = lines[0].split()[1:]
    marks = [[int(v) for v in ln.split()[2:]] for ln in lines[1:] if ln.startswith("mark ")]
    if len(marks) != 2 * len(names):
        raise SystemExit(f"{board}: {len(marks)} marks for {len(names)} models")
    result: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        a, b = marks[2 * i], marks[2 * i + 1]
        per = [(y - x) / invokes for x, y in zip(a, b, strict=True)]
        result[name] = {"total": per[0], **dict(zip(classes, per[1:], strict=True))}
    return result


def frame_table(board: str, res: dict[str, dict[str, float]]) -> list[str]:
    """Estimated ms per frame for each precision x model: tracked (landmark model only) and with the detector;
    last, what `precision = "auto"` picks on the board's cpuinfo (tools/aarch64/cpuinfo/)."""
    rows = ["| precision | model | tracked frame, 1 thread | with detector, 1 thread | tracked, 4 threads |"
            " with detector, 4 threads |", "|---|---|---|---|---|---|"]
    cpu = parse_cpuinfo((HERE / "cpuinfo" / f"{board}.txt").read_text(), "aarch64")
    pairs = [(prec, m, "int8" if prec == "int8" else "float", prec)  # the detector has no fp16 form
             for prec in ("float", "fp16", "int8") for m in STAGES[1:]]
    for m in STAGES[1:]:
        c = choose_precision("auto", m, cpu)
        pairs.append((f"auto (detector {c.detector}, landmark {c.landmark})", m, c.detector, c.landmark))
    for label, m, det_form, lm_form in pairs:
        lm, det = res.get(f"{m}/{lm_form}"), res.get(f"detector/{det_form}")
        if lm is None or det is None:  # not counted (--only)
            continue
        t = [estimate_ms(board, lm, n) for n in (1, 4)]
        d = [estimate_ms(board, det, n) for n in (1, 4)]
        rows.append(f"| {label} | {m} | {t[0]:.0f} | {t[0] + d[0]:.0f} | {t[1]:.0f} | {t[1] + d[1]:.0f} |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("boards", nargs="*", metavar="pi4|pi5")
    p.add_argument("--invokes", type=int, default=3)
    p.add_argument("--models-dir", type=Path, default=default_models_dir())
    p.add_argument("--json", type=Path, help="write the counts and estimates here")
    p.add_argument("--from-json", type=Path, help="no counting: print the tables of counts written by --json")
    p.add_argument("--only", nargs="+", metavar="FORM", help="count only these forms (e.g. detector/int8)")
    p.add_argument("--merge", type=Path, help="counts written by --json: the forms counted now replace theirs")
    args = p.parse_args()
    if unknown := set(args.boards) - set(CORES):
        p.error(f"unknown board {', '.join(sorted(unknown))}; choose from {', '.join(sorted(CORES))}")
    only = frozenset(args.only) if args.only else None
    if only and (unknown := only - {f for b in args.boards for f in forms(args.models_dir, b)}):
        p.error(f"unknown form {', '.join(sorted(unknown))}")
    if args.from_json:
        report = json.loads(args.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            plugin = build_plugin(Path(tmp))
            report = {b: count(b, args.models_dir, args.invokes, plugin, Path(tmp), only) for b in args.boards}
    if args.merge:
        merged = json.loads(args.merge.read_text())
        for board, res in report.items():
            # The saved order (the tables' row order) is kept; new forms go last.
            merged[board] = {**merged.get(board, {}), **res}
        report = merged
    for board, res in report.items():
        core = CORES[board]
        print(f"\n{core.board} ({core.name}, {core.ghz} GHz): millions of instructions per invoke by class, "
              "estimated ms on one core")
        classes = [k for k in next(iter(res.values())) if k != "total" and not k.startswith("ms")]
        print("| stage/form | total | " + " | ".join(classes) + " | bound by | ms |")
        print("|---" * (len(classes) + 4) + "|")
        for name, c in res.items():
            c["ms_1thread"] = estimate_ms(board, c)
            cls = " | ".join(f"{c[k] / 1e6:.1f}" for k in classes)
            print(f"| {name} | {c['total'] / 1e6:.1f} | {cls} | {bottleneck(board, c)} | {c['ms_1thread']:.1f} |")
        print(f"\n{core.board}: estimated ms per frame")
        print("\n".join(frame_table(board, res)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
