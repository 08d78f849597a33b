"""Daemon fps with the live view off and with one viewer, paired and interleaved (docs/benchmarks.md, "Live
view"). Not a test: a benchmark whose figures are ratios within one run.

    python tools/live_view_bench.py --rounds 7 --seconds 20 [--threads 2] [--baseline-commit REV]

Per round (the order rotates from round to round), `edgepose run` processes the looped dance video as fast as
it can (`pace = "fast"`, the default int8 lite engine with `--threads`) for `--seconds`, publishing to a
Mosquitto started here:

- base: the code of `--baseline-commit` (default: the merge base with main, i.e. before the live view),
  exported with `git archive` into a temporary directory, live view absent;
- off:  the code of HEAD (exported the same way; uncommitted changes are not measured), live view off;
- view: the code of HEAD, live view on, one client reading the MJPEG stream the whole time.

fps = `processed_fps` of `--summary` (frames over the last stats interval: from 5 s after start to the end,
so model loading and warm-up are left out); frames per CPU-second = all processed frames over the daemon
process's user + system CPU time (less sensitive than fps to other load on the machine). Prints both per
round and the median (min, max) of the per-round ratios; last, the CPU cost of drawing and encoding one frame.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared/data/videos/dance_tfjs_pose_1.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(path: Path, broker: int, live_port: int | None, threads: int) -> Path:
    text = (f'[source]\nuri = "{VIDEO}"\npace = "fast"\nloop = true\n'
            f'[engine]\nmodels_dir = "{REPO / "models"}"\nthreads = {threads}\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker}\n[stats]\ninterval_seconds = 3600.0\n')
    if live_port is not None:
        text += f"[live_view]\nenabled = true\nport = {live_port}\n"
    path.write_text(text)
    return path


def viewer(port: int, stop: threading.Event, counts: list[int]) -> None:
    """Read the MJPEG stream until `stop`, counting the parts (reconnects while the daemon is starting)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=5) as r:
                while not stop.is_set():
                    line = r.readline()
                    if not line:
                        break
                    if line.startswith(b"--edgepose-frame"):
                        counts[0] += 1
        except OSError:
            time.sleep(0.2)


def run_once(variant: str, code_dir: Path, work: Path, broker: int, seconds: float,
             threads: int) -> tuple[float, float, int]:
    """(processed fps, frames per CPU-second of the daemon process, MJPEG parts the viewer received)."""
    live_port = free_port() if variant == "view" else None
    cfg = config(work / f"{variant}.toml", broker, live_port, threads)
    env = {**os.environ, "PYTHONPATH": str(code_dir), "EDGEPOSE_DEVICE_ID": f"bench_{variant}"}
    stop, counts = threading.Event(), [0]
    t = None
    if live_port is not None:
        t = threading.Thread(target=viewer, args=(live_port, stop, counts), daemon=True)
        t.start()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "edgepose", "run", "--config", str(cfg), "--duration",
                          str(seconds), "--summary"], cwd=code_dir, env=env, capture_output=True, text=True,
                         timeout=seconds + 120)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    if t is not None:
        t.join(6)
    if out.returncode != 0:
        raise SystemExit(f"{variant}: exit {out.returncode}\n{out.stderr[-2000:]}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    frames = summary["mqtt"]["frames_published"] + summary["mqtt"]["frames_dropped"]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return float(summary["processed_fps"]), frames / cpu, counts[0]


def export(rev: str, dest: Path) -> Path:
    """The `edgepose` package of commit `rev` in `dest` (both sides run the same way: from an export)."""
    dest.mkdir()
    archive = subprocess.run(["git", "archive", rev, "edgepose"], cwd=REPO, capture_output=True, check=True)
    tar_path = dest.with_suffix(".tar")
    tar_path.write_bytes(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    return dest


def encode_cost(repeats: int = 200) -> float:
    """Median CPU milliseconds of drawing and encoding one live view frame (frame 12 of the dance video, the
    engine's pose, quality 70), measured in this process with time.process_time."""
    from edgepose.commands.common import read_video
    from edgepose.config import EngineConfig
    from edgepose.engine.tracker import PoseEngine
    from edgepose.live_view.overlay import render_jpeg

    engine = PoseEngine.from_config(EngineConfig(model="lite", precision="float", backend="cpu", threads=1,
                                                 models_dir=REPO / "models"))
    for f in read_video(VIDEO, max_frames=12):
        result = engine.process(f.rgb, f.timestamp_ns)
    times = []
    for _ in range(repeats):
        t = time.process_time()
        render_jpeg(f.rgb, result.poses, quality=70, fps=9.5)
        times.append(time.process_time() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2, help="engine.threads (default 2: this machine's cores)")
    ap.add_argument("--baseline-commit", default="", help="default: git merge-base HEAD main")
    args = ap.parse_args()
    rev = args.baseline_commit or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO,
                                                 capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="edgepose-bench-") as tmp:
        work = Path(tmp)
        base, head = export(rev, work / "base"), export("HEAD", work / "head")
        broker_port = free_port()
        broker = subprocess.Popen(["mosquitto", "-p", str(broker_port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        variants = {"base": base, "off": head, "view": head}
        names = list(variants)
        rows: list[dict[str, float]] = []
        try:
            for i in range(args.rounds):
                order = names[i % 3:] + names[:i % 3]
                row: dict[str, float] = {}
                for name in order:
                    fps, per_cpu, parts = run_once(name, variants[name], work, broker_port, args.seconds,
                                                   args.threads)
                    row[name], row[f"{name}_per_cpu_s"] = fps, round(per_cpu, 2)
                    if name == "view":
                        row["frames_sent"] = parts
                rows.append(row)
                print(f"round {i + 1} ({' '.join(order)}): " + "  ".join(f"{k} {v:g}" for k, v in row.items()),
                      flush=True)
        finally:
            broker.terminate()
            broker.wait(5)
    print(f"baseline commit {rev[:10]} vs HEAD, {args.rounds} rounds of {args.seconds:g} s, "
          f"engine.threads {args.threads}")
    for label, suffix in (("fps", ""), ("frames per CPU-second", "_per_cpu_s")):
        for a, b in (("off", "base"), ("view", "off")):
            ratios = [r[a + suffix] / r[b + suffix] for r in rows]
            print(f"{label:>22} {a} / {b}: median {statistics.median(ratios):.3f} "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    print(f"median fps: base {statistics.median(r['base'] for r in rows):.2f}, off "
          f"{statistics.median(r['off'] for r in rows):.2f}, view {statistics.median(r['view'] for r in rows):.2f}; "
          f"viewer received median {statistics.median(r['frames_sent'] for r in rows):g} frames per run")
    ms = encode_cost()
    print(f"drawing + encoding one frame: median {ms:.2f} CPU ms (200 frames); at max_fps 5: {5 * ms:.1f} CPU ms "
          "per second")


if __name__ == "__main__":
    main()
