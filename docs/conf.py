"""Sphinx configuration for trio_promise.

Built offline with ``-W --keep-going`` (see the check commands in README.md):
intersphinx reads the inventories vendored under ``_inv/`` (regenerate them
with ``python docs/_inv/make_inventories.py``), never the network.
"""

from __future__ import annotations

import doctest as _doctest
import sys
from pathlib import Path

# Document the checkout, not whatever trio_promise happens to be installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio_promise  # noqa: E402

project = "trio_promise"
author = "the trio_promise authors"
copyright = "2026, the trio_promise authors"  # noqa: A001
version = release = trio_promise.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    "sphinxcontrib_trio",
]

nitpicky = True
nitpick_ignore: list[tuple[str, str]] = []

# -- intersphinx: vendored inventories, so the build works offline ----------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", "_inv/python.inv"),
    "trio": ("https://trio.readthedocs.io/en/stable/", "_inv/trio.inv"),
    "outcome": ("https://outcome.readthedocs.io/en/latest/", "_inv/outcome.inv"),
}
intersphinx_timeout = 1

# -- autodoc / napoleon ------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# -- doctest -----------------------------------------------------------------
doctest_global_setup = """
import trio
import trio.testing
import outcome
import trio_promise
from trio_promise import *
"""
# Exception messages are part of what the docs show, so they are compared in
# full (Sphinx's default would ignore them).
doctest_default_flags = _doctest.ELLIPSIS | _doctest.DONT_ACCEPT_TRUE_FOR_1

# -- HTML --------------------------------------------------------------------
html_theme = "furo"
html_title = f"trio_promise {release}"
html_static_path: list[str] = []
exclude_patterns = ["_build", "_inv"]
