"""What a wheel carries: size, files, lines of Python, and the third-party modules its code imports.

    python tools/wheel_contents.py dist/edgepose-0.1.0-py3-none-any.whl [...]

Imports are every import statement of every module (those inside functions too) and every
`importlib.import_module("literal")`, reduced to the top-level name; the standard library and the wheel's own
packages are left out. "at import" are those of module level, "lazily" those only inside functions (imported
when a feature is used).
"""

from __future__ import annotations

import argparse
import ast
import sys
import zipfile
from pathlib import Path


def third_party_imports(sources: dict[str, str]) -> tuple[set[str], set[str]]:
    """(imported at module level, imported only inside functions), top-level names."""
    own = {name.split("/")[0] for name in sources}
    eager: set[str] = set()
    every: set[str] = set()
    for text in sources.values():
        tree = ast.parse(text)
        # Module level: the body's statements and what a top-level `if`/`try` holds (optional imports).
        blocks = [s for s in tree.body if isinstance(s, ast.If | ast.Try)]
        top = {id(n) for n in tree.body} | {id(n) for s in blocks for n in ast.walk(s)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):  # fmt: skip
                names = [node.args[0].value]
            else:
                continue
            roots = {n.split(".")[0] for n in names} - own - set(sys.stdlib_module_names) - {"__future__"}
            every |= roots
            if id(node) in top:
                eager |= roots
    return eager, every - eager


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheels", nargs="+", type=Path)
    args = ap.parse_args(argv)
    for wheel in args.wheels:
        with zipfile.ZipFile(wheel) as z:
            files = [i for i in z.infolist() if not i.is_dir()]
            sources = {i.filename: z.read(i).decode("utf-8") for i in files if i.filename.endswith(".py")}
        eager, lazy = third_party_imports(sources)
        lines = sum(t.count("\n") for t in sources.values())
        print(f"{wheel.name}: {wheel.stat().st_size} bytes, {len(files)} files, {len(sources)} modules, "
              f"{lines} lines of Python")  # fmt: skip
        print(f"  third-party imports at import: {', '.join(sorted(eager)) or '-'}")
        print(f"  third-party imports lazily:    {', '.join(sorted(lazy)) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
