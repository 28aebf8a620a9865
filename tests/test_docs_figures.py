"""Figures, dates and versions in the README and the docs are generated or held.

* Every benchmark figure comes from the committed run
  (``benchmarks/results/results.json``): the pages compute theirs with the
  ``:bench:`` role when they are built (docs/figures.py), the README's table
  is written by ``python docs/figures.py --write`` and held here to what that
  would write now, and no ratio is typed by hand anywhere else.
* A date is never typed into the prose (the run's date comes with its
  figures); the package's version is written as ``__version__`` says; the
  oldest Python, trio and outcome named anywhere are the ones setup.cfg
  requires.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import trio_promise

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
SOURCES = [README, *sorted(DOCS.glob("*.rst")), ROOT / "CONTRIBUTING.md"]


def load_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("figures", DOCS / "figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load_figures()
ROLE = re.compile(r":bench:`([^`]+)`")


def prose(path: Path) -> str:
    """What a reader reads as text: code, program output and roles taken out."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        if figures.BEGIN in text:
            text = text.replace(figures.readme_block(text), "")
        text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
        return re.sub(r"`[^`\n]+`", "``", text)
    kept: list[str] = []
    skip_deeper_than: int | None = None
    code = re.compile(
        r"^(\s*)\.\. (testcode|testoutput|doctest|code-block|code|literalinclude)::")
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not line.strip() or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        match = code.match(line)
        if match is not None:
            skip_deeper_than = len(match.group(1))
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            skip_deeper_than = indent  # a literal block follows
        kept.append(line)
    return re.sub(r"``[^`]+``", "``", ROLE.sub("", "\n".join(kept)))


def test_readme_table_is_what_the_committed_run_gives() -> None:
    text = README.read_text(encoding="utf-8")
    assert figures.readme_block(text) == figures.readme_table(), (
        "the README's benchmark table differs from benchmarks/results/results.json:"
        " run python docs/figures.py --write")


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.rst")), ids=lambda p: p.name)
def test_every_bench_role_is_a_figure_of_the_committed_run(path: Path) -> None:
    for key in ROLE.findall(path.read_text(encoding="utf-8")):
        assert figures.figure(key), key  # raises KeyError for a missing case


def test_a_figure_is_the_median_of_the_rounds() -> None:
    # Against the numbers stored in the file: the median of the per-round
    # ratios, and their range.
    data = figures.load()
    case = next(c for c in data["cases"] if c["scenario"] == "handoff")
    ours = next(v for v in case["variants"] if v["name"] == "trio_promise")
    stored = sorted(ours["ratios"])
    key = f"handoff ({case['size']:,}): trio_promise / floor"
    assert figures.figure(key) == f"{stored[len(stored) // 2]:.2f}"
    low, high = figures.figure(key + " range").split("\N{EN DASH}")
    assert (low, high) == (f"{stored[0]:.2f}", f"{stored[-1]:.2f}")
    assert figures.figure("target: Event class") == "1.03"
    assert figures.figure("target: handoff (20,000)") == f"{case['target']:.2f}"
    with pytest.raises(KeyError, match=r"^\"results\.json has no case 'handoff' at 7"):
        figures.figure("handoff (7): trio_promise / floor")
    with pytest.raises(ValueError, match=r"^not a benchmark figure"):
        figures.figure("handoff")


# A ratio such as 1.06 or 0.93, not a version ("trio 0.28") or a program's
# output (code blocks are not prose).
_RATIO = re.compile(r"(?<![\w.])\d\.\d\d(?![\w+]|\.\d)")
PYTHONS = {"3.10", "3.11", "3.12", "3.13", "3.14"}
_VERSIONED = re.compile(
    r"(?:trio|outcome|anyio|aioresult|aiometer|Python|CPython|python|sphinx|"
    r"version|trio_promise)\s*(?:>=|==|\()?\s*$|Python 3\.1\d(?:,\s+3\.1\d)*(?:,|\s+to|\s+and)\s+$")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_figure_is_typed_by_hand(path: Path) -> None:
    text = prose(path)
    for match in _RATIO.finditer(text):
        before = text[max(0, match.start() - 30) : match.start()]
        after = text[match.end() : match.end() + 8]
        if match.group() in PYTHONS and not re.match(r"\s*(?:times|\N{MULTIPLICATION SIGN})", after):
            continue  # a supported Python, named on its own
        assert _VERSIONED.search(before), (
            f"{path.name}: {match.group()!r} after {before!r}: compute benchmark"
            " figures with the :bench: role (docs/figures.py), never copy them")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_date_is_typed_by_hand(path: Path) -> None:
    text = prose(path)
    if path.name == "history.rst":  # a release's heading: "0.2.0 (2027-01-31)"
        text = re.sub(r"^\d+\.\d+\.\d+ \(\d{4}-\d\d-\d\d\)$", "", text, flags=re.MULTILINE)
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), path.name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_versions_of_this_package_agree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"(?<![\w.])(\d+\.\d+\.\d+)(?![\w.])", text):
        before = text[max(0, match.start() - 30) : match.start()]
        if re.search(r"trio\b|outcome|anyio|aioresult|aiometer|trimeter|[Pp]ython",
                     before):
            continue
        assert match.group(1) == trio_promise.__version__, (
            f"{path.name}: {match.group(1)} after {before!r}")


def test_oldest_dependencies_agree_with_setup_cfg() -> None:
    config = configparser.RawConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    required = {"Python": config["options"]["python_requires"].removeprefix(">=")}
    for line in config["options"]["install_requires"].split("\n"):
        if line.strip():
            name, _, version = line.partition(">=")
            required[name.strip()] = version.strip()
    assert set(required) == {"Python", "trio", "outcome"}
    stated = re.compile(
        r"\b(Python|trio|outcome)\s*(?:>=\s*(\d+\.\d+)\b|(\d+\.\d+)\s+or\s+"
        r"(?:later|newer))")
    seen = 0
    for path in SOURCES:
        for match in stated.finditer(path.read_text(encoding="utf-8")):
            name, version = match.group(1), match.group(2) or match.group(3)
            assert version == required[name], f"{path.name}: {match.group()}"
            seen += 1
    assert seen >= 6


def test_every_scenario_of_the_committed_run_is_described() -> None:
    text = (DOCS / "benchmarks.rst").read_text(encoding="utf-8")
    joins = {"wait_all", "wait_any", "as_completed"}
    for case in figures.load()["cases"]:
        name = re.sub(r",? flat$", "", case["scenario"])
        name = "joins" if name in joins else name
        assert f"* **{name}**" in text, (
            f"docs/benchmarks.rst does not say what {case['scenario']!r} measures")
