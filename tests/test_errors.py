"""One error base: every exception class defined in edgepose derives from EdgeposeError, and the CLI maps it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import edgepose
from edgepose.cli import CommandError
from edgepose.errors import EXIT_CONFIG, EXIT_SOFTWARE, EdgeposeError


def edgepose_exception_classes() -> list[type[BaseException]]:
    classes = []
    for info in pkgutil.walk_packages(edgepose.__path__, "edgepose."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                classes.append(obj)
    return classes


def test_every_exception_class_derives_from_the_base() -> None:
    classes = edgepose_exception_classes()
    # The 13 classes of issue 12 at least (ConfigError, ModelError, BackendError, SourceError, ...).
    assert len(classes) >= 13, [c.__qualname__ for c in classes]
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, EdgeposeError)]
    assert strays == []
    for c in classes:
        assert isinstance(c.exit_status, int) and 0 < c.exit_status < 126, c


def test_exit_status_of_the_class_or_of_the_instance() -> None:
    from edgepose.config import ConfigError

    assert ConfigError("mqtt.port", "bad").exit_status == EXIT_CONFIG
    assert isinstance(ConfigError("k", "m"), ValueError)  # the old bases stay (callers catch ValueError)
    assert EdgeposeError("x").exit_status == EXIT_SOFTWARE
    assert EdgeposeError("x", exit_status=69).exit_status == 69
    assert CommandError("y", 65).status == CommandError("y", 65).exit_status == 65
