"""The public surface: names, metadata, docstrings, and where it is imported from."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
from pathlib import Path

import pytest

import trio_promise

PUBLIC = sorted(trio_promise.__all__)
CLASSES = [name for name in PUBLIC if isinstance(getattr(trio_promise, name), type)]


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name
        for name in vars(trio_promise)
        if not name.startswith("_") and not inspect.ismodule(getattr(trio_promise, name))
    }
    assert public == set(trio_promise.__all__)


def test_api_md_names_are_exported() -> None:
    for name in [
        "Future", "FutureStatistics", "AlreadySetError", "BrokenPromiseError",
        "spawn", "wait_all", "wait_settled", "wait_any", "as_completed",
        "gather", "gather_map", "race", "RateLimiter", "Correlator",
    ]:
        assert name in trio_promise.__all__


def test_version() -> None:
    assert isinstance(trio_promise.__version__, str)
    assert trio_promise.__version__ == importlib.metadata.version("trio-promise")


@pytest.mark.parametrize("name", PUBLIC)
def test_module_is_top_level(name: str) -> None:
    assert getattr(trio_promise, name).__module__ == "trio_promise"


@pytest.mark.parametrize("name", PUBLIC)
def test_has_docstring(name: str) -> None:
    obj = getattr(trio_promise, name)
    assert inspect.getdoc(obj), f"{name} has no docstring"
    if isinstance(obj, type):
        for attr_name, attr in vars(obj).items():
            if attr_name.startswith("_") and attr_name not in (
                "__aenter__", "__aexit__", "__enter__", "__exit__", "__aiter__",
                "__anext__", "__len__", "__contains__",
            ):
                continue
            if callable(attr) or isinstance(attr, property):
                assert inspect.getdoc(attr), f"{name}.{attr_name} has no docstring"


@pytest.mark.parametrize("name", CLASSES)
def test_classes_are_final_and_slotted(name: str) -> None:
    cls = getattr(trio_promise, name)
    if sys.version_info >= (3, 11):
        assert getattr(cls, "__final__", False), f"{name} is not @final"
    if not issubclass(cls, BaseException):
        assert "__slots__" in vars(cls), f"{name} has no __slots__"


def test_tests_run_against_the_installed_package() -> None:
    location = Path(trio_promise.__file__).resolve()
    source = Path(__file__).resolve().parent.parent / "trio_promise"
    if os.environ.get("TRIO_PROMISE_REQUIRE_INSTALLED"):
        assert "site-packages" in location.parts
        assert source not in location.parents
    assert (location.parent / "py.typed").exists()
