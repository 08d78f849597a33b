"""Write the key tables of docs/configuration.md from the configuration's field metadata (edgepose.config).

    python tools/config_docs.py          # rewrite the tables in place
    python tools/config_docs.py --check  # exit 1 if a table differs (tests/test_config.py checks the same)

Each `### \\`[section]\\`` heading is followed (after any prose) by its table; only the table lines change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgepose.config import sections, settings_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def table_span(lines: list[str], section: str) -> tuple[int, int]:
    """[start, end) of the table under the section's heading."""
    head = lines.index(f"### `[{section}]`")
    start = next(i for i in range(head + 1, len(lines)) if lines[i].startswith("| Key |"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


def render(text: str) -> str:
    lines = text.split("\n")
    for path, cls in sections():
        start, end = table_span(lines, path)
        lines[start:end] = settings_table(cls, path)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report whether the tables are up to date")
    args = ap.parse_args()
    text = DOCS.read_text()
    new = render(text)
    if args.check:
        print("up to date" if new == text else f"{DOCS.name}: the key tables differ from the metadata")
        return 0 if new == text else 1
    DOCS.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
