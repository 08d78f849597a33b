"""The two distributions (issue 12): the runtime `edgepose` (edgepose/, all a device installs) imports nothing of
the development one `edgepose-dev` (dev/edgepose_dev), and its wheel holds the runtime package only.

The import walk covers every import statement of every runtime module, those inside functions included, and
`importlib.import_module("...")` calls with a literal name.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import import_module
from pathlib import Path

import pytest
from support.paths import REPO

from edgepose import plugins

RUNTIME = REPO / "edgepose"
DEV_PACKAGE = "edgepose_dev"


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of the modules that `source` (module `module`) imports, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Call) and _calls_import_module(node):
            found.add(node.args[0].value)
    return found


def _calls_import_module(call: ast.Call) -> bool:
    """`importlib.import_module("literal")` or `import_module("literal")`."""
    func = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    arg = call.args[0] if call.args else None
    return func == "import_module" and isinstance(arg, ast.Constant) and isinstance(arg.value, str)


def runtime_modules() -> dict[str, Path]:
    """{dotted name: file} of every module of the runtime package."""
    out = {}
    for path in sorted(RUNTIME.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_dev(name: str) -> bool:
    return name == DEV_PACKAGE or name.startswith(DEV_PACKAGE + ".")


def test_the_walk_sees_imports_inside_functions() -> None:
    source = (
        "import os\nfrom . import plugins\n"
        "def f():\n    from edgepose_dev.reference.mediapipe_client import run_mediapipe\n"
        "    return importlib.import_module('edgepose_dev.metrics')\n"
    )
    found = imported_modules(source, "edgepose.commands.bench")
    assert {"os", "edgepose.commands.plugins", "edgepose_dev.metrics"} <= found
    assert {n for n in found if _is_dev(n)} == {
        "edgepose_dev.reference.mediapipe_client", "edgepose_dev.reference.mediapipe_client.run_mediapipe",
        "edgepose_dev.metrics",
    }  # fmt: skip


def test_runtime_imports_nothing_of_the_dev_distribution() -> None:
    modules = runtime_modules()
    assert len(modules) > 50 and "edgepose.cli" in modules and "edgepose.plugins" in modules
    offenders = []
    for name, path in modules.items():
        imports = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        offenders += [f"{path.relative_to(REPO)} imports {i}" for i in sorted(imports) if _is_dev(i)]
    assert offenders == []


def test_runtime_imports_of_edgepose_resolve_inside_the_runtime() -> None:
    """An import of a module that moved to edgepose-dev under its old name (edgepose.models_build, ...) fails
    here, not only on a device."""
    modules = runtime_modules()
    unresolved = []
    for name, path in modules.items():
        for i in imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            if i.split(".")[0] != "edgepose" or i in modules:
                continue
            owner = i.rpartition(".")[0]  # `from edgepose.x import name`: a name of module edgepose.x
            if owner not in modules:
                unresolved.append(f"{path.relative_to(REPO)}: {i}")
    assert unresolved == []


def _dev_entry_points() -> dict[str, dict[str, str]]:
    project = tomllib.loads((REPO / "dev/pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["entry-points"]


def test_dev_entry_points_name_objects_of_the_dev_package() -> None:
    groups = _dev_entry_points()
    assert set(groups) == {plugins.COMMANDS, plugins.MODELS_COMMANDS, plugins.REFERENCES, plugins.DEMO_CLIPS}
    for group, entries in groups.items():
        for name, target in entries.items():
            module, _, attr = target.partition(":")
            assert _is_dev(module), f"{group}:{name} -> {target}"
            assert callable(getattr(import_module(module), attr)), f"{group}:{name} -> {target}"
    # The runtime's stand-ins (a command that says what to install) are exactly the dev commands.
    for group, names in plugins.DEV_COMMANDS.items():
        assert set(names) == set(groups[group]), group


def test_runtime_wheel_holds_the_runtime_package_only(tmp_path: Path) -> None:
    """Built from a copy of the checkout with dev/ in it, as deploy.sh builds it (minus its exclusions)."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", ".cache", "models", "tests", "build", "dist", "*.egg-info", "__pycache__"))  # fmt: skip
    assert (src / "dev" / DEV_PACKAGE / "models_build").is_dir()
    out = tmp_path / "wheel"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out),
         str(src)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    offline = ("No matching distribution", "Could not find a version")
    if proc.returncode != 0 and any(s in proc.stderr for s in offline):
        pytest.skip(f"building the wheel needs setuptools from the package index: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = out.glob("edgepose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert all(n.startswith("edgepose/") for n in packaged), sorted(packaged)
    expected = {p.relative_to(REPO).as_posix() for p in RUNTIME.rglob("*.py")} | {"edgepose/py.typed"}
    assert packaged == expected
    assert not [n for n in names if DEV_PACKAGE in n or "models_build" in n or "/reference/" in n]
