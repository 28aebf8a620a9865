"""The Sphinx docs stay complete: every public name and method is documented.

The docs' code examples run in Sphinx's doctest builder (``dev.py check``);
these tests catch what that build cannot: a public name or method that the
reference page forgot, and vendored intersphinx inventories that no longer
match the script that writes them.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import re
import zlib
from pathlib import Path

import pytest

import trio_promise

DOCS = Path(__file__).resolve().parent.parent / "docs"
REFERENCE = DOCS / "reference.rst"

# Classes whose members reference.rst lists one by one (to choose the order);
# the others are documented with ``:members:`` or have no methods of their own.
LISTED_MEMBERS = ["Correlator", "Future", "RateLimiter"]
DUNDERS_DOCUMENTED = {"__len__", "__contains__"}


def documented() -> tuple[set[str], dict[str, set[str]]]:
    """Top-level names and, per class, the members reference.rst documents."""
    names: set[str] = set()
    members: dict[str, set[str]] = {}
    current: str | None = None
    directive = re.compile(r"^(\s*)\.\. auto(\w+):: (\w+)")
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        match = directive.match(line)
        if match is None:
            continue
        indent, kind, name = match.groups()
        if not indent:
            names.add(name)
            current = name if kind == "class" else None
            members.setdefault(name, set())
        elif current is not None:
            members[current].add(name)
    return names, members


def public_members(cls: type) -> set[str]:
    return {
        name
        for name, attr in vars(cls).items()
        if (not name.startswith("_") or name in DUNDERS_DOCUMENTED)
        and (callable(attr) or isinstance(attr, property))
    }


@pytest.mark.parametrize("name", sorted(trio_promise.__all__))
def test_every_public_name_is_in_the_reference(name: str) -> None:
    names, _ = documented()
    assert name in names, f"docs/reference.rst has no auto directive for {name}"


@pytest.mark.parametrize("name", LISTED_MEMBERS)
def test_every_public_member_is_in_the_reference(name: str) -> None:
    cls = getattr(trio_promise, name)
    assert inspect.isclass(cls)
    _, members = documented()
    missing = public_members(cls) - members[name]
    assert not missing, f"docs/reference.rst does not list {name}.{sorted(missing)}"
    unknown = members[name] - public_members(cls)
    assert not unknown, f"docs/reference.rst lists {name}.{sorted(unknown)}"


def read_inventory(path: Path) -> tuple[list[bytes], list[str]]:
    data = path.read_bytes()
    lines = data.split(b"\n", 4)
    header, body = lines[:4], lines[4]
    return header, sorted(zlib.decompress(body).decode().splitlines())


def test_vendored_inventories_match_their_script(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_inventories", DOCS / "_inv" / "make_inventories.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["outcome.inv", "python.inv", "trio.inv"]
    for name in written:
        # Compare the contents, not the bytes: zlib builds may compress
        # differently.
        assert read_inventory(tmp_path / name) == read_inventory(
            DOCS / "_inv" / name
        ), f"docs/_inv/{name} is stale: run python docs/_inv/make_inventories.py"


def layout_block() -> str:
    text = (DOCS.parent / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_contributing_layout_names_every_module() -> None:
    block = layout_block()
    package = DOCS.parent / "trio_promise"
    for path in sorted(package.glob("*.py")):
        assert path.name in block, f"CONTRIBUTING.md's layout misses {path.name}"


def test_contributing_layout_describes_every_test_file() -> None:
    block = " ".join(layout_block().split())
    patterns = re.findall(r"[\w*]+\.py", block.split("tests/", 1)[1].split("docs/")[0])
    for path in sorted((DOCS.parent / "tests").glob("*.py")):
        if path.name == "__init__.py":
            continue
        assert any(fnmatch.fnmatch(path.name, p) for p in patterns), (
            f"CONTRIBUTING.md's layout does not describe tests/{path.name}")
