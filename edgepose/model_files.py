"""Model files: where they come from (package registries, pinned by sha256), where they live, how they are found.

Float models are fetched by `edgepose models fetch` from the PyPI wheel mediapipe==0.10.14 and the npm package
@mediapipe/pose@0.5.1675469404 into `<models_dir>/float/`. Int8 models are built by `edgepose models build`
and shipped in the repository's `models/` directory with `models/manifest.json`. Nothing is ever downloaded
from a model hub at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgepose.errors import EXIT_NOINPUT, EdgeposeError

Complexity = Literal["lite", "full", "heavy"]
Precision = Literal["float", "fp16", "int8"]
COMPLEXITIES: tuple[str, ...] = ("lite", "full", "heavy")
# fp16: the float landmark file run in fp16 where the CPU has FP16 arithmetic (edgepose.inference.fp16).
PRECISIONS: tuple[str, ...] = ("float", "fp16", "int8")

PYPI_PACKAGE = "mediapipe==0.10.14"
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"


class ModelError(EdgeposeError):
    """A model file is missing, corrupt or of the wrong kind; the message says which and how to fix it."""

    exit_status = EXIT_NOINPUT


@dataclass(frozen=True, slots=True)
class FloatModel:
    filename: str
    sha256: str
    registry: Literal["pypi", "npm"]
    member: str  # path inside the wheel or the npm tarball


FLOAT_MODELS: dict[str, FloatModel] = {
    m.filename: m
    for m in (
        FloatModel(
            "pose_detection.tflite",
            "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
            "pypi",
            "mediapipe/modules/pose_detection/pose_detection.tflite",
        ),
        FloatModel(
            "pose_landmark_lite.tflite",
            "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
            "npm",
            "package/pose_landmark_lite.tflite",
        ),
        FloatModel(
            "pose_landmark_full.tflite",
            "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
            "pypi",
            "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        ),
        FloatModel(
            "pose_landmark_heavy.tflite",
            "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
            "npm",
            "package/pose_landmark_heavy.tflite",
        ),
    )
}

FETCH_HINT = "run `edgepose models fetch` (needs pip and npm; see README, 'Models')"


def default_models_dir() -> Path:
    """$EDGEPOSE_MODELS_DIR, else the `models/` directory of a source checkout, else the user's data dir."""
    env = os.environ.get("EDGEPOSE_MODELS_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[1] / "models"
    if checkout.is_dir():
        return checkout
    data_home = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return data_home / "edgepose" / "models"


def detector_filename(precision: str) -> str:
    # The detector has no fp16 form (no reduced-precision metadata): fp16 means its float file.
    return "float/pose_detection.tflite" if precision in ("float", "fp16") else "pose_detection_int8.tflite"


def landmark_filename(complexity: str, precision: str) -> str:
    if complexity not in COMPLEXITIES:
        raise ModelError(f"unknown landmark model {complexity!r}; choose one of {', '.join(COMPLEXITIES)}")
    if precision in ("float", "fp16"):
        return f"float/pose_landmark_{complexity}.tflite"
    return f"pose_landmark_{complexity}_int8.tflite"


def landmark_model_for(models_dir: Path, complexity: str, precision: str, backend: str) -> str:
    """The landmark file to load: for int8 on the CPU the mixed recipe (float stem/heads, docs/int8.md)
    when it was built, since full int8 loses accuracy there; the Edge TPU needs the full-int8 file."""
    name = landmark_filename(complexity, precision)
    if precision != "int8":
        return name
    mixed = name.replace("_int8.tflite", "_int8_mixed.tflite")
    compiled = (models_dir / name).with_name(name.replace(".tflite", "_edgetpu.tflite"))
    wants_tpu = backend == "edgetpu" or (backend == "auto" and compiled.is_file())
    return name if wants_tpu or not (models_dir / mixed).is_file() else mixed


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model(models_dir: Path, relative: str, *, verify: bool = True) -> Path:
    """The path of a model file, checked to exist (and, for pinned float models, to have the pinned hash)."""
    if relative not in {f"float/{n}" for n in FLOAT_MODELS} and not relative.endswith(".tflite"):
        raise ModelError(f"not a model file name: {relative!r}")
    path = models_dir / relative
    pinned = FLOAT_MODELS.get(Path(relative).name) if relative.startswith("float/") else None
    if not path.is_file():
        hint = FETCH_HINT if pinned else "build it with `edgepose models build` or use --precision float"
        raise ModelError(f"model file {path} is missing; {hint}")
    if verify and pinned is not None:
        actual = sha256_file(path)
        if actual != pinned.sha256:
            raise ModelError(
                f"model file {path} has sha256 {actual}, expected {pinned.sha256}; "
                f"delete it and {FETCH_HINT}"
            )
    return path


def verify_float_models(models_dir: Path) -> dict[str, str]:
    """Check every pinned float model; returns {filename: problem} for those that are missing or wrong."""
    problems: dict[str, str] = {}
    for name, model in FLOAT_MODELS.items():
        path = models_dir / "float" / name
        if not path.is_file():
            problems[name] = "missing"
        elif (actual := sha256_file(path)) != model.sha256:
            problems[name] = f"sha256 {actual} != expected {model.sha256}"
    return problems


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=900)
    except FileNotFoundError:
        raise ModelError(f"`{cmd[0]}` is not installed; it is needed to fetch models ({' '.join(cmd)})") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"timed out: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelError(f"`{' '.join(cmd)}` failed: {' | '.join(tail)}")


def _download_pypi(workdir: Path) -> Path:
    # The wheel is cp311 x86_64 only, but it is just a zip of the model files: download it on any platform.
    _run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
            "-d", str(workdir), PYPI_PACKAGE,
        ],
        workdir,
    )  # fmt: skip
    wheels = sorted(workdir.glob("mediapipe-*.whl"))
    if not wheels:
        raise ModelError(f"pip download of {PYPI_PACKAGE} produced no wheel")
    return wheels[0]


def _download_npm(workdir: Path) -> Path:
    _run(["npm", "pack", "--silent", NPM_PACKAGE], workdir)
    tarballs = sorted(workdir.glob("mediapipe-pose-*.tgz"))
    if not tarballs:
        raise ModelError(f"npm pack of {NPM_PACKAGE} produced no tarball")
    return tarballs[0]


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z, z.open(member) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise ModelError(f"{member} not found in {archive.name}")
            with src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)


def fetch_float_models(
    models_dir: Path,
    names: Iterable[str] | None = None,
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
    archives: dict[str, Path] | None = None,
) -> list[Path]:
    """Fetch the pinned float models into `<models_dir>/float/`, verifying each sha256 before it is moved in.

    `archives` maps "pypi"/"npm" to already-downloaded package files (used by tests and offline installs).
    """
    wanted = [FLOAT_MODELS[n] for n in (names or FLOAT_MODELS)]
    dest_dir = models_dir / "float"
    dest_dir.mkdir(parents=True, exist_ok=True)
    todo = [m for m in wanted if force or verify_float_models(models_dir).get(m.filename)]
    for m in wanted:
        if m not in todo:
            log(f"ok       {m.filename} (sha256 verified)")
    if not todo:
        return [dest_dir / m.filename for m in wanted]
    archives = dict(archives or {})
    with tempfile.TemporaryDirectory(prefix="edgepose-fetch-") as tmp:
        work = Path(tmp)
        for registry in sorted({m.registry for m in todo}):
            if registry not in archives:
                log(f"download {PYPI_PACKAGE if registry == 'pypi' else NPM_PACKAGE} ({registry})")
                archives[registry] = _download_pypi(work) if registry == "pypi" else _download_npm(work)
        for m in todo:
            part = work / (m.filename + ".part")
            _extract_member(archives[m.registry], m.member, part)
            actual = sha256_file(part)
            if actual != m.sha256:
                raise ModelError(
                    f"{m.filename} from {archives[m.registry].name} has sha256 {actual}, expected {m.sha256}; "
                    "the package was altered or the pin is wrong: nothing was written"
                )
            shutil.move(str(part), dest_dir / m.filename)
            log(f"fetched  {m.filename} (sha256 {m.sha256[:12]}… verified)")
    return [dest_dir / m.filename for m in wanted]
