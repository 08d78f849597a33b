"""What the development distribution (edgepose-dev) adds to the runtime, found through entry points.

The runtime (this package) is all that a device installs. The workshop — the int8 model build, the MediaPipe
reference, evaluation, the demo clip — is the separate distribution `edgepose-dev` (`dev/` of the repository,
package `edgepose_dev`), which depends on this one and never the other way round (tests/test_distributions.py).
It plugs in through these entry-point groups, each entry naming one object:

- `edgepose.commands`: a top-level command, `register(subparsers)` (as the modules of edgepose.commands);
- `edgepose.models_commands`: an action of `edgepose models`, `register(models_subparsers)`;
- `edgepose.references`: a reference pose pipeline, `run(frames, *, model_complexity, static) -> ReferenceRun`;
- `edgepose.demo_clips`: a demo clip maker, `make(path) -> path`.

Without edgepose-dev a feature of it fails with one line that says what to install (exit 69). In a source tree
where edgepose-dev is on the path but not installed (no entry points: the aarch64 root under qemu),
`python -m edgepose_dev ARGS` declares them (`declare`) and runs `edgepose ARGS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgepose.errors import EXIT_UNAVAILABLE, EdgeposeError

COMMANDS = "edgepose.commands"
MODELS_COMMANDS = "edgepose.models_commands"
REFERENCES = "edgepose.references"
DEMO_CLIPS = "edgepose.demo_clips"

if TYPE_CHECKING:
    import numpy as np

DEV_DISTRIBUTION = "edgepose-dev"
INSTALL_HINT = f"install {DEV_DISTRIBUTION}, the development distribution (in a checkout: pip install -e ./dev)"

# The commands edgepose-dev provides, with their help: without it they still appear and say what to install.
DEV_COMMANDS: dict[str, dict[str, str]] = {
    COMMANDS: {"eval": "PCK@0.2 on a COCO keypoints file (needs edgepose-dev)"},
    MODELS_COMMANDS: {"build": "build the int8 models from the float ones (needs edgepose-dev)"},
}


class PluginMissing(EdgeposeError):
    """A feature of the development distribution was asked for, and it is not installed."""

    exit_status = EXIT_UNAVAILABLE


class ReferenceRun(Protocol):
    """What a reference pipeline returns for a sequence of frames (edgepose-dev's MediaPipe runner)."""

    found: np.ndarray  # (frames,) bool: a pose was found
    landmarks: np.ndarray  # (frames, 33, 4) normalised x, y, z, visibility
    world: np.ndarray  # (frames, 33, 3) metres
    info: dict[str, Any]

    @property
    def frames(self) -> int: ...

    @property
    def fps(self) -> float: ...

    @property
    def total_ms(self) -> float: ...

    @property
    def cores_used(self) -> float: ...

    def pixels(self) -> np.ndarray: ...


# Entry points declared at run time, for a source tree where edgepose-dev is not installed and so has no
# metadata (`python -m edgepose_dev`, e.g. under qemu: tools/aarch64/run.sh): {group: {name: "module:object"}}.
DECLARED: dict[str, dict[str, str]] = {}


def declare(group: str, name: str, target: str) -> None:
    """Add entry point `name` = `target` ("module:object") to `group`; an installed one of that name wins."""
    DECLARED.setdefault(group, {})[name] = target


def plugins(group: str) -> dict[str, EntryPoint]:
    """{name: entry point} of one group, in name order (an entry point is loaded only when used)."""
    found = {ep.name: ep for ep in entry_points(group=group)}
    for name, target in DECLARED.get(group, {}).items():
        found.setdefault(name, EntryPoint(name, target, group))
    return dict(sorted(found.items()))


def load(group: str, name: str, feature: str) -> Any:
    """The object entry point `name` of `group` names; PluginMissing (one line: what to install) without it."""
    ep = plugins(group).get(name)
    if ep is None:
        raise PluginMissing(f"{feature} is part of the development tools: {INSTALL_HINT}")
    return ep.load()


def reference(name: str) -> Callable[..., ReferenceRun]:
    """The `run` function of a reference pipeline (`--against mediapipe`)."""
    return load(REFERENCES, name, f"the {name} reference")


def demo_clip(path: Path) -> Path:
    """Write the demo clip (made from photos of people that ship with edgepose-dev's dependencies) to `path`."""
    make = load(DEMO_CLIPS, "people", "the demo clip (without a camera or --source)")
    return Path(make(path))


def register_commands(group: str, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the commands of `group`: those installed, and a stand-in saying what to install for the others."""
    installed = plugins(group)
    for name in sorted(set(installed) | set(DEV_COMMANDS.get(group, {}))):
        if name in installed:
            installed[name].load()(subparsers)
        else:
            _register_missing(subparsers, name, DEV_COMMANDS[group][name])


def _register_missing(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(name, help=help_text, add_help=False, prefix_chars="\0")
    p.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def missing(args: argparse.Namespace) -> int:
        raise PluginMissing(f"`{p.prog}` is part of the development tools: {INSTALL_HINT}")

    p.set_defaults(func=missing)
