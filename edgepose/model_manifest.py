"""models/manifest.json: where the int8 models came from and how they were checked.

Per output model: the float source (package, file, sha256), the recipe, the calibration-set hash, the output
sha256 and size, and the verification figures. `check_manifest` is what the test suite and `models verify`
use to prove the shipped files are the ones the manifest describes. The model build (development
distribution) writes it; the runtime only reads and checks it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgepose.errors import EXIT_DATAERR
from edgepose.model_files import ModelError, sha256_file

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


@dataclass
class ModelEntry:
    file: str
    sha256: str
    size: int
    source: dict[str, Any]
    recipe: dict[str, Any]
    float32_rewrite: dict[str, Any]
    verification: dict[str, Any]
    edgetpu: dict[str, Any]


@dataclass
class Manifest:
    edgepose_version: str
    calibration: dict[str, Any]
    models: dict[str, ModelEntry] = field(default_factory=dict)
    edgetpu_compiler_command: str = ""
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        models = {k: ModelEntry(**v) for k, v in d.get("models", {}).items()}
        return cls(
            edgepose_version=d["edgepose_version"],
            calibration=d["calibration"],
            models=models,
            edgetpu_compiler_command=d.get("edgetpu_compiler_command", ""),
            schema=d.get("schema", SCHEMA_VERSION),
        )


def load_manifest(models_dir: Path) -> Manifest:
    path = Path(models_dir) / MANIFEST_NAME
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ModelError(f"{path} does not exist; run `edgepose models build`") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ModelError(
            f"{path} is not a valid edgepose model manifest ({e}); rebuild the models", exit_status=EXIT_DATAERR
        ) from None


# Entries whose key ends so are inputs of the Edge TPU compiler (models/edgetpu_src/), not runtime files: a
# device gets only the runtime files (deploy.sh).
COMPILER_INPUT_SUFFIX = "_edgetpu_src"


def check_manifest(models_dir: Path, *, compiler_inputs: bool = True) -> dict[str, str]:
    """{name: problem} for every manifest model that is missing or whose sha256 differs; {} if all match.

    `compiler_inputs=False` lets the Edge TPU compiler's inputs be absent (a deployed device), but still checks
    them when they are there."""
    manifest = load_manifest(models_dir)
    problems: dict[str, str] = {}
    for name, entry in manifest.models.items():
        path = Path(models_dir) / entry.file
        if not path.is_file():
            if compiler_inputs or not name.endswith(COMPILER_INPUT_SUFFIX):
                problems[name] = f"{path} is missing"
            continue
        actual = sha256_file(path)
        if actual != entry.sha256:
            problems[name] = f"{path} has sha256 {actual}, manifest says {entry.sha256}"
    return problems
