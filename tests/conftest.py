"""Shared fixtures live in tests/support/*; registered here so every test directory sees them."""

pytest_plugins = ["support.fixtures", "support.broker", "support.publisher", "support.clips"]


def _check_unique_test_basenames() -> None:
    """tests/ has no __init__.py (prepend import mode): two test files with one basename break collection."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    clashes = sorted(n for n, c in names.items() if c > 1)
    if clashes:
        raise RuntimeError(f"test file names must be unique across tests/: {', '.join(clashes)}")


_check_unique_test_basenames()
