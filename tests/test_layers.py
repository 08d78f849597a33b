"""The package's import graph: no circle, and no layer imports a higher one (README, 'Development').

Imports are read with `ast` from every module of `edgepose`, at module level and inside functions alike (a
function-level import is a dependency all the same, only a later one), `if TYPE_CHECKING:` blocks included.
An edge goes to the module named (`from edgepose.io.frames import Frame` → edgepose.io.frames; `from
edgepose.io import sources` → edgepose.io.sources); the package `__init__` that Python runs on the way is not
counted as an edge, and each `__init__` is checked as a module of its own. `importlib.import_module` with a
constant name counts as an import too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgepose"

# Lowest first. A module may import its own layer and the layers below, never one above. A module belongs to
# the longest prefix listed.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("edgepose", "edgepose.errors", "edgepose.topology", "edgepose.pose", "edgepose.zones")),
    ("configuration", ("edgepose.config", "edgepose.model_files", "edgepose.model_manifest")),
    ("models and inputs", ("edgepose.inference", "edgepose.io", "edgepose.filters")),
    ("pose stages", ("edgepose.engine", "edgepose.validity")),
    ("outputs", ("edgepose.mqtt", "edgepose.live_view", "edgepose.client")),
    ("daemon", ("edgepose.daemon",)),
    ("commands", ("edgepose.commands", "edgepose.plugins")),
    ("command line", ("edgepose.cli", "edgepose.__main__")),
)
# The development side (edgepose-dev in dev/: model building, the MediaPipe reference, evaluation) is another
# distribution; tests/test_distributions.py checks that the runtime imports nothing of it.
DEVELOPMENT: tuple[str, ...] = ()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The module of the package that `name` (a module or a name inside one) refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of an edgepose module in `path`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):  # fmt: skip
            names = [node.args[0].value]
        for name in names:
            if name == "edgepose" or name.startswith("edgepose."):
                target = _target(name)
                if target is not None and target != module:
                    yield target, node.lineno


GRAPH: dict[str, dict[str, int]] = {m: dict(_imports(m, p)) for m, p in MODULES.items()}


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _is_development(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in DEVELOPMENT)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    """The reader sees the imports it must (so that an empty graph cannot pass the tests below)."""
    assert len(MODULES) > 50
    assert "edgepose.inference.backends.base" in GRAPH["edgepose.inference.backends.cpu"]
    assert "edgepose.io.opencv_source" in GRAPH["edgepose.io.sources"]  # function-level
    assert "edgepose.zones" in GRAPH["edgepose.config"]  # function-level


def test_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert _cycles(GRAPH) == []


def test_every_runtime_module_has_a_layer() -> None:
    missing = [m for m in MODULES if not _is_development(m) and _layer(m) is None]
    assert missing == [], f"add these modules to a layer in {Path(__file__).name}: {missing}"


def test_no_layer_imports_a_higher_one() -> None:
    upward = []
    for module, imports in GRAPH.items():
        own = _layer(module)
        if own is None or _is_development(module):
            continue
        for target, line in imports.items():
            theirs = _layer(target)
            if theirs is not None and theirs > own:
                upward.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} ({LAYERS[own][0]}) imports "
                              f"{target} ({LAYERS[theirs][0]})")
    assert upward == [], "\n".join(upward)


def _under_main_guard(tree: ast.Module) -> set[int]:
    """Ids of the nodes inside `if __name__ == "__main__":` blocks (a script's own entry point)."""
    inside: set[int] = set()
    for node in tree.body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"):  # fmt: skip
            inside.update(id(n) for n in ast.walk(node))
    return inside


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) is not None and _layer(m) < len(LAYERS) - 2))
def test_below_the_commands_no_exit_and_no_status_mapping(module: str) -> None:
    """Only the command line ends the process and turns an error into a status (its `exit_status`)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    guarded = _under_main_guard(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Attribute) and node.attr in ("exit", "_exit") and isinstance(node.value, ast.Name) \
                and node.value.id in ("sys", "os"):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        if isinstance(node, ast.Name) and node.id == "SystemExit":
            found.append(f"line {node.lineno}: SystemExit")
        if isinstance(node, ast.Attribute) and node.attr == "exit_status" and isinstance(node.ctx, ast.Load) \
                and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            found.append(f"line {node.lineno}: reads an error's exit_status")
    assert found == []
