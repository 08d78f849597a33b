"""The reference interpreter: a separate venv holding MediaPipe's legacy Python `Pose` (mediapipe==0.10.14).

mediapipe 0.10.14 needs protobuf<5 (edgepose's environment may carry protobuf 5+), and its declared
requirements pull opencv-contrib-python (a second `cv2` that clobbers opencv-python-headless), jax, jaxlib and
matplotlib. So the reference lives in its own venv and runs in a subprocess (`mediapipe_runner.py`, driven by
`mediapipe_client`).

Which interpreter is used: $EDGEPOSE_MEDIAPIPE_PYTHON; else `<repo>/.venv-mediapipe/bin/python` in a
source checkout (`~/.local/share/edgepose/venv-mediapipe` otherwise); else the current interpreter if it has
mediapipe (the `mediapipe` extra).

Create it (CI runs this; measured 12 s with a warm pip cache, 17 s cold; 315 MB):

    python -m edgepose_dev.reference.mediapipe_env --create [.venv-mediapipe] [--models-dir DIR] [--wheel FILE]

The install is minimal: `mediapipe==0.10.14 --no-deps` plus numpy, protobuf, opencv-python-headless,
absl-py, attrs and flatbuffers at pinned versions. The wheel's other requirements (jax, jaxlib, matplotlib,
sounddevice, opencv-contrib-python) are not used by `solutions.pose`; the runner stands in an inert
`matplotlib.pyplot` for the one import-time reference to it.

Offline landmark models: legacy `Pose` with model_complexity 0 or 2 downloads pose_landmark_lite/heavy.tflite
from storage.googleapis.com into the mediapipe package on first use. Creation copies them instead from
edgepose's models dir (`models/float/`, sha256-verified), so all three complexities work without network.
The heavy file is the same as MediaPipe's bucket asset; the lite file is the npm @mediapipe/pose build
(sha256 f17bfbec…), a different build from the bucket's lite (1150dc68…) that MediaPipe would download.
The reference therefore runs MediaPipe's graph on exactly the lite weights edgepose uses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError

ENV_VAR = "EDGEPOSE_MEDIAPIPE_PYTHON"
MEDIAPIPE_VERSION = "0.10.14"
# Everything installed, with --no-deps: the closed set verified against the spec's goldens (bump together).
# protobuf<5 is what mediapipe 0.10.14's generated code needs; numpy 1.26 is the era's numpy (numpy 2.2 also
# reproduced the goldens in a one-off check); opencv 4.11 is the last headless build that accepts numpy 1.
REQUIREMENTS: tuple[str, ...] = (
    f"mediapipe=={MEDIAPIPE_VERSION}",
    "numpy==1.26.4",
    "protobuf==4.25.9",
    "opencv-python-headless==4.11.0.86",
    "absl-py==2.5.1",
    "attrs==26.1.0",
    "flatbuffers==25.12.19",
)
# Landmark models MediaPipe would download at run time; copied in from edgepose's models dir instead.
PLACED_MODELS: tuple[str, ...] = ("pose_landmark_lite.tflite", "pose_landmark_heavy.tflite")
MARKER = "edgepose-reference.json"
RUNNER = Path(__file__).with_name("mediapipe_runner.py")
INSTALL_HINT = (
    "create the reference env with `python -m edgepose_dev.reference.mediapipe_env --create` "
    f"(or point ${ENV_VAR} at a Python that has mediapipe=={MEDIAPIPE_VERSION} with protobuf<5)"
)


class MediaPipeUnavailable(EdgeposeError, RuntimeError):
    """No usable reference interpreter; the message says what was tried and how to install it."""

    exit_status = EXIT_UNAVAILABLE


def _repo_root() -> Path | None:
    root = Path(__file__).resolve().parents[3]  # dev/edgepose_dev/reference/ in a checkout
    return root if (root / "pyproject.toml").is_file() else None


def default_env_dir() -> Path:
    """`<repo>/.venv-mediapipe` in a source checkout, else `$XDG_DATA_HOME/edgepose/venv-mediapipe`."""
    root = _repo_root()
    if root is not None:
        return root / ".venv-mediapipe"
    data_home = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return data_home / "edgepose" / "venv-mediapipe"


def env_python(env_dir: Path) -> Path:
    return Path(env_dir) / "bin" / "python"


def find_reference_python() -> Path | None:
    """The reference interpreter per the lookup order above, or None. A set but broken $ENV_VAR raises."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MediaPipeUnavailable(f"${ENV_VAR}={explicit} is not an executable file; {INSTALL_HINT}")
        return path
    venv = env_python(default_env_dir())
    if venv.is_file():
        return venv
    import importlib.util

    if importlib.util.find_spec("mediapipe") is not None:  # the extra, installed next to edgepose
        return Path(sys.executable)
    return None


def reference_python() -> Path:
    """find_reference_python(), raising MediaPipeUnavailable with install instructions when absent."""
    python = find_reference_python()
    if python is None:
        raise MediaPipeUnavailable(
            f"MediaPipe reference not found (${ENV_VAR} unset, no {env_python(default_env_dir())}, "
            f"no mediapipe in {sys.executable}); {INSTALL_HINT}"
        )
    return python


def runner_env() -> dict[str, str]:
    """Environment for the reference subprocess: nothing of the project env's Python path leaks in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def check_mediapipe_env(python: Path, *, timeout: float = 180.0) -> dict:
    """Run the runner's self-check under `python`: versions, landmark models present, one blank frame."""
    try:
        proc = subprocess.run(
            [str(python), "-I", str(RUNNER), "--check"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=runner_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MediaPipeUnavailable(f"reference interpreter {python} failed to start: {e}; {INSTALL_HINT}") from e
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise MediaPipeUnavailable(f"reference interpreter {python} cannot run MediaPipe Pose: {tail}; {INSTALL_HINT}")
    info = json.loads(lines[-1])
    if info.get("mediapipe") != MEDIAPIPE_VERSION:
        raise MediaPipeUnavailable(
            f"reference interpreter {python} has mediapipe {info.get('mediapipe')}, expected {MEDIAPIPE_VERSION}"
        )
    return info


def _site_mediapipe_dir(python: Path) -> Path:
    # find_spec locates the package without importing it (cheap, and works before the models are placed).
    code = "import importlib.util as u; print(u.find_spec('mediapipe').submodule_search_locations[0])"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, check=True, env=runner_env())
    return Path(out.stdout.strip())


def place_models(python: Path, models_dir: Path | None = None, log: Callable[[str], None] = print) -> list[str]:
    """Copy the lite/heavy landmark models (sha256-verified) into the reference's mediapipe; returns names."""
    from edgepose.model_files import ModelError, default_models_dir, resolve_model, sha256_file

    models_dir = Path(models_dir) if models_dir is not None else default_models_dir()
    dest_dir = _site_mediapipe_dir(python) / "modules" / "pose_landmark"
    placed: list[str] = []
    for name in PLACED_MODELS:
        try:
            src = resolve_model(models_dir, f"float/{name}")
        except ModelError as e:
            log(f"warning: {name} not placed, its model complexity will be unavailable: {e}")
            continue
        dest = dest_dir / name
        if not (dest.is_file() and sha256_file(dest) == sha256_file(src)):
            tmp = dest.with_suffix(".part")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
        placed.append(name)
    return placed


def _pip_supports_python_option(base_python: str) -> bool:
    """pip >= 22.3 can install into another interpreter with --python."""
    proc = subprocess.run([base_python, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
    parts = proc.stdout.split()
    if proc.returncode != 0 or len(parts) < 2:
        return False
    try:
        major, minor = (int(x) for x in parts[1].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (22, 3)


def _run_checked(cmd: Sequence[str], what: str) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=runner_env(), check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise MediaPipeUnavailable(f"{what} failed ({' '.join(cmd)}): {tail}")


def _pip_install(python: Path, base_python: str, requirements: Sequence[str], log: Callable[[str], None]) -> None:
    args = [
        "install",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *requirements,
    ]
    # The venv is made without pip (saves ~6 s of ensurepip): the base interpreter's pip installs into it
    # through --python. Fall back to bootstrapping pip inside the venv when the base pip is too old.
    if _pip_supports_python_option(base_python):
        cmd = [base_python, "-m", "pip", "--python", str(python), *args]
    else:
        _run_checked([str(python), "-m", "ensurepip", "--default-pip"], "bootstrapping pip in the reference env")
        cmd = [str(python), "-m", "pip", *args]
    log("pip install --no-deps " + " ".join(requirements))
    _run_checked(cmd, "installing the reference env")


def ensure_mediapipe_env(
    path: Path | str | None = None,
    *,
    models_dir: Path | None = None,
    base_python: str | None = None,
    wheel: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Create (or reuse) the reference venv at `path`; returns its interpreter.

    An existing env is reused when its marker records the same requirement set and its self-check passes;
    otherwise it is deleted and rebuilt. `wheel` installs mediapipe from a local wheel file (offline CI).
    The marker file is written last, so an interrupted build is detected and rebuilt next time.
    """
    env_dir = Path(path) if path is not None else default_env_dir()
    python = env_python(env_dir)
    marker = env_dir / MARKER
    if not force and marker.is_file() and python.is_file():
        try:
            recorded = json.loads(marker.read_text())
            if recorded.get("requirements") == list(REQUIREMENTS):
                place_models(python, models_dir, log)
                info = check_mediapipe_env(python)
                log(f"reference env {env_dir} ok (mediapipe {info['mediapipe']}, reused)")
                return python
        except (MediaPipeUnavailable, ValueError, subprocess.CalledProcessError) as e:
            log(f"reference env {env_dir} is unusable ({e}); rebuilding")
    if env_dir.exists():
        if not (env_dir / "pyvenv.cfg").is_file():
            raise MediaPipeUnavailable(f"{env_dir} exists and is not a venv; remove it or choose another path")
        shutil.rmtree(env_dir)

    t0 = time.monotonic()
    base = base_python or sys.executable
    log(f"creating reference env {env_dir} (base {base})")
    _run_checked([base, "-m", "venv", "--without-pip", str(env_dir)], "creating the reference venv")
    if wheel is not None and not Path(wheel).is_file():
        raise MediaPipeUnavailable(f"mediapipe wheel {wheel} does not exist")
    requirements = [str(wheel) if (wheel and r.startswith("mediapipe==")) else r for r in REQUIREMENTS]
    _pip_install(python, base, requirements, log)
    placed = place_models(python, models_dir, log)
    info = check_mediapipe_env(python)
    seconds = time.monotonic() - t0
    marker.write_text(
        json.dumps(
            {
                "requirements": list(REQUIREMENTS),
                "placed_models": placed,
                "info": info,
                "build_seconds": round(seconds, 1),
            },
            indent=2,
        )
    )
    log(
        f"reference env {env_dir} ready in {seconds:.0f} s (mediapipe {info['mediapipe']}, "
        f"models placed: {', '.join(placed) or 'none'})"
    )
    return python


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgepose_dev.reference.mediapipe_env",
        description="Create or check the MediaPipe reference venv (legacy Pose, mediapipe==0.10.14).",
    )
    parser.add_argument(
        "--create",
        nargs="?",
        const=str(default_env_dir()),
        metavar="DIR",
        help=f"create or reuse the venv at DIR (default {default_env_dir()})",
    )
    parser.add_argument("--models-dir", type=Path, help="edgepose models dir holding float/*.tflite")
    parser.add_argument("--wheel", type=Path, help="install mediapipe from this local wheel file")
    parser.add_argument("--python", dest="base_python", help="base interpreter for the venv (CPython 3.11)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the env looks fine")
    args = parser.parse_args(argv)
    try:
        if args.create:
            ensure_mediapipe_env(
                Path(args.create),
                models_dir=args.models_dir,
                base_python=args.base_python,
                wheel=args.wheel,
                force=args.force,
            )
            return 0
        python = reference_python()
        info = check_mediapipe_env(python)
        print(json.dumps({"interpreter": str(python), **info}, indent=2))
        return 0
    except MediaPipeUnavailable as e:
        print(f"mediapipe_env: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
