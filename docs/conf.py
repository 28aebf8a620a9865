"""Sphinx configuration for trio_promise.

Built offline with ``-W --keep-going`` (``python3 dev.py check`` runs the html
and doctest builders):
intersphinx reads the inventories vendored under ``_inv/`` (regenerate them
with ``python docs/_inv/make_inventories.py``), never the network.
"""

from __future__ import annotations

import ast
import doctest as _doctest
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.ext import intersphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.nodes import make_refnode

# Document the checkout, not whatever trio_promise happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio_promise

sys.path.insert(0, str(Path(__file__).resolve().parent))
import figures

if TYPE_CHECKING:
    from docutils.nodes import Element, Node, system_message
    from docutils.parsers.rst.states import Inliner
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

project = "trio_promise"
author = "trio_promise contributors"
copyright = "2026, trio_promise contributors (MIT OR Apache-2.0)"
version = release = trio_promise.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinxcontrib_trio",
]

nitpicky = True

# -- intersphinx: vendored inventories, so the build works offline ----------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", "_inv/python.inv"),
    "trio": ("https://trio.readthedocs.io/en/stable/", "_inv/trio.inv"),
    "outcome": ("https://outcome.readthedocs.io/en/latest/", "_inv/outcome.inv"),
}
intersphinx_timeout = 1

# -- autodoc / napoleon ------------------------------------------------------
# reference.rst lists each class's members one by one, in reading order:
# since __init__.py rewrites __module__ to "trio_promise", autodoc cannot find
# the source order and would fall back to alphabetical. The same rewrite hides
# the typed @overload signatures; _show_overloads() below gives them back.
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# -- doctest -----------------------------------------------------------------
# No global set-up: every page imports what its examples use, so that the
# examples can be copied as they are.
# Exception messages are part of what the docs show, so they are compared in
# full (Sphinx's default would ignore them).
doctest_default_flags = _doctest.ELLIPSIS | _doctest.DONT_ACCEPT_TRUE_FOR_1

# -- HTML --------------------------------------------------------------------
html_theme = "furo"
html_title = f"trio_promise {release}"
html_static_path: list[str] = []
exclude_patterns = ["_build", "_inv"]


# -- references that autodoc cannot resolve by itself ------------------------
#
# The modules import most typing names under ``if TYPE_CHECKING:`` only, so
# autodoc cannot evaluate those annotations and shows them as written, with
# bare names such as ``Callable`` or ``Outcome``. The nitpicky build would
# then fail on every one of them; instead, each bare name is sent to the
# object it stands for (found in the vendored inventories), the library's
# type variables are shown as plain text, and the ``limiter=`` aliases link
# to the section that explains them.

_BARE_NAMES = {
    "AbstractAsyncContextManager": "contextlib.AbstractAsyncContextManager",
    "AbstractContextManager": "contextlib.AbstractContextManager",
    "AsyncIterator": "collections.abc.AsyncIterator",
    "Awaitable": "collections.abc.Awaitable",
    "Callable": "collections.abc.Callable",
    "Hashable": "collections.abc.Hashable",
    "Iterable": "collections.abc.Iterable",
    "Iterator": "collections.abc.Iterator",
    "Outcome": "outcome.Outcome",
    "TracebackType": "types.TracebackType",
    "Unpack": "typing.Unpack",
}

# Private type aliases, and the section of reference.rst that explains them.
_ALIASES = {
    "Limiter": "limiters",
    "LimiterArg": "limiters",
}


def _type_variables() -> frozenset[str]:
    """The names of every TypeVar/TypeVarTuple/ParamSpec in the package.

    Read from the source, because some exist only under TYPE_CHECKING.
    """
    kinds = {"TypeVar", "TypeVarTuple", "ParamSpec"}
    package = Path(trio_promise.__file__).parent
    names: set[str] = set()
    for path in package.glob("*.py"):
        module = f"trio_promise.{path.stem}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id in kinds
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names.update((target.id, f"{module}.{target.id}"))
    return frozenset(names)


_TYPE_VARIABLES = _type_variables()


def _resolve_missing(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    if node.get("refdomain") != "py" or node.get("reftype") not in ("class", "obj"):
        return None
    target = node["reftarget"]
    if target in _TYPE_VARIABLES:
        return contnode
    if target in _ALIASES:
        return make_refnode(
            app.builder,
            node["refdoc"],
            "reference",
            _ALIASES[target],
            contnode,
            f"{target}: see limiter=",
        )
    real = _BARE_NAMES.get(target)
    if real is None:
        return None
    retry = node.deepcopy()
    retry["reftarget"] = real
    found = intersphinx.missing_reference(app, env, retry, contnode)
    if found is None and real.startswith("typing."):
        return contnode  # as Sphinx does for typing names it cannot link
    return found


# -- the typed overloads -----------------------------------------------------
#
# autodoc shows a function's @overload signatures instead of its
# implementation's only when its source analyzer finds them, and it analyses
# the module named by ``__module__``. __init__.py sets that to "trio_promise"
# (so that reprs and the docs say ``trio_promise.gather``), so autodoc reads
# __init__.py, finds no overloads there, and shows the implementation's
# ``Any`` signature. The analyzer of "trio_promise" is cached for the whole
# build: hand it the overloads of every public function, read from the
# private module that defines it.


def overloads_by_public_name() -> dict[str, list[object]]:
    """The @overload signatures of each public function, by public name."""
    found: dict[str, list[object]] = {}
    for name in trio_promise.__all__:
        obj = getattr(trio_promise, name)
        code = getattr(obj, "__code__", None)
        if code is None:
            continue  # a class: its methods have no overloads
        module = Path(code.co_filename).stem
        analyzer = ModuleAnalyzer.for_module(f"trio_promise.{module}")
        analyzer.analyze()
        if name in analyzer.overloads:
            found[name] = list(analyzer.overloads[name])
    return found


def _show_overloads(app: Sphinx) -> None:
    analyzer = ModuleAnalyzer.for_module("trio_promise")
    analyzer.analyze()
    analyzer.overloads.update(overloads_by_public_name())  # type: ignore[arg-type]


# -- benchmark figures -------------------------------------------------------
#
# :bench:`fan-out (100,000): trio_promise / floor` shows the figure computed
# from benchmarks/results/results.json (see figures.py): no figure is copied
# by hand, so a new committed run updates every page.


def _bench_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Inliner,
    options: dict[str, object] | None = None,
    content: list[str] | None = None,
) -> tuple[list[Node], list[system_message]]:
    from docutils import nodes

    try:
        value = figures.figure(text)
    except (KeyError, ValueError) as exc:
        error = inliner.reporter.error(f"bench: {exc}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, error)], [error]
    return [nodes.Text(value)], []


def setup(app: Sphinx) -> None:
    app.add_role("bench", _bench_role)
    app.connect("builder-inited", _show_overloads)
    app.connect("missing-reference", _resolve_missing)
