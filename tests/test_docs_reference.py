"""The API reference shows the typed overloads, as the code declares them.

``gather``, ``gather_map``, ``race`` and ``amap`` are typed with
``@overload``s; the implementation below them takes ``Any``. Autodoc shows
the overloads only if it finds them in the module it analyses, and
``__module__`` says "trio_promise" (docs/conf.py hands them over). These tests
build the reference page and hold each rendered signature to the overloads in
the source, so the two cannot drift; and they hold the number of callables
that ``gather`` types per position, wherever the docs state it, to the code.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import trio_promise

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trio_promise"
DOCS = ROOT / "docs"


def _is_overload(node: ast.AsyncFunctionDef | ast.FunctionDef) -> bool:
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in node.decorator_list
    )


@cache
def declared_overloads() -> dict[str, list[ast.arguments]]:
    """Public name -> the arguments of each of its @overloads, in order."""
    found: dict[str, list[ast.arguments]] = {}
    for path in sorted(PACKAGE.glob("_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name in trio_promise.__all__
                and _is_overload(node)
            ):
                found.setdefault(node.name, []).append(node.args)
    return found


def parameter_names(args: ast.arguments) -> list[str]:
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    if args.vararg is not None:
        names.append("*" + args.vararg.arg)
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg is not None:
        names.append("**" + args.kwarg.arg)
    return names


def rendered_parameter_names(signature: str) -> list[str]:
    """The parameter names of one rendered signature line, in order."""
    depth, part = 0, ""
    parts: list[str] = []
    for char in signature[signature.index("(") + 1 :]:
        if char == ")" and depth == 0:
            break  # the end of the parameter list
        depth += char in "[("
        depth -= char in "])"
        if char == "," and depth == 0:
            parts.append(part.strip())
            part = ""
        else:
            part += char
    parts.append(part.strip())
    names = [p.split(":")[0].split("=")[0].strip() for p in parts if p]
    return [n for n in names if n not in ("/", "*")]


def rendered_reference(tmp: Path) -> str:
    pytest.importorskip("sphinx")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-E", "-b", "text", str(DOCS),
         str(tmp / "text")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return (tmp / "text" / "reference.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> str:
    return rendered_reference(tmp_path_factory.mktemp("docs"))


def test_the_overloaded_functions_are_the_ones_the_docs_name() -> None:
    assert sorted(declared_overloads()) == ["amap", "gather", "gather_map", "race"]


@pytest.mark.parametrize("name", sorted(declared_overloads()))
def test_reference_shows_each_overload_and_never_any(name: str, reference: str) -> None:
    shown = re.findall(
        rf"^(?:await |async with )?trio_promise\.{name}\(.*$", reference, re.MULTILINE
    )
    declared = declared_overloads()[name]
    assert len(shown) == len(declared), (
        f"docs/reference.rst shows {len(shown)} signatures of {name}, the code "
        f"declares {len(declared)} overloads:\n" + "\n".join(shown))
    for line, args in zip(shown, declared, strict=True):
        assert not re.search(r"\bAny\b", line), line
        assert rendered_parameter_names(line) == parameter_names(args), line


def per_position_limit() -> int:
    """The most callables one overload of gather() types one by one."""
    return max(
        len(args.posonlyargs) + len(args.args)
        for args in declared_overloads()["gather"]
        if args.vararg is None
    )


def test_the_docs_say_how_many_callables_gather_types_per_position() -> None:
    limit = per_position_limit()
    assert limit >= 6  # API.md: "overloads up to at least 6"
    sentence = re.compile(r"up\s+to\s+(\w+)\s+callables")
    words = {"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
    places = {
        "docs/reference.rst": (DOCS / "reference.rst").read_text(encoding="utf-8"),
        "docs/tutorial.rst": (DOCS / "tutorial.rst").read_text(encoding="utf-8"),
        "gather.__doc__": trio_promise.gather.__doc__ or "",
    }
    stated = {where: sentence.findall(text) for where, text in places.items()}
    assert stated["docs/reference.rst"], "docs/reference.rst does not state it"
    for where, numbers in stated.items():
        for number in numbers:
            value = int(number) if number.isdigit() else words[number]
            assert value == limit, f"{where} says up to {number} callables"
