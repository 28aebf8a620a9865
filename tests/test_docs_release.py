"""The release story is told once and the same way everywhere.

The README, the release history and the install instructions agree on
whether the version is released; the licence is named where a user looks,
and its texts travel with the installed package.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
from pathlib import Path

import trio_promise

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.rst")}
LICENSES = ["LICENSE", "LICENSE.MIT", "LICENSE.APACHE2"]
SPDX = "MIT OR Apache-2.0"


def latest_release() -> tuple[str, str]:
    """The first version heading of docs/history.rst: (version, status)."""
    match = re.search(r"^(\d+\.\d+\.\d+) \((.+)\)\n-+$", DOCS["history.rst"], re.MULTILINE)
    assert match is not None, "docs/history.rst has no 'X.Y.Z (status)' heading"
    return match.group(1), match.group(2)


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README,
                      re.MULTILINE | re.DOTALL)
    assert match is not None, f"README.md has no '## {title}' section"
    return match.group(1)


def test_history_is_about_this_version() -> None:
    version, status = latest_release()
    assert version == trio_promise.__version__
    assert status == "unreleased" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", status), status


def test_readme_tells_the_same_release_status() -> None:
    version, status = latest_release()
    history = readme_section("Release history")
    assert version in history
    assert ("unreleased" in history) == (status == "unreleased")
    assert "docs/history.rst" in history


def test_no_index_install_before_a_release() -> None:
    _, status = latest_release()
    if status != "unreleased":
        return
    # `pip install trio-promise` (or trio_promise) from an index cannot work.
    index_install = re.compile(r"pip install (--\S+ )*['\"]?trio[-_]promise\b")
    for name, text in {"README.md": README, **DOCS}.items():
        assert not index_install.search(text), f"{name} installs from an index"
    assert "pip install /path/to/" in readme_section("Install")
    assert "pip install /path/to/" in DOCS["index.rst"]


def test_licence_is_named_where_users_look() -> None:
    for name, text in [("README.md", README), ("docs/index.rst", DOCS["index.rst"])]:
        assert SPDX in text, f"{name} does not name the licence"
    config = configparser.RawConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    assert config["metadata"]["license"] == SPDX
    assert config["metadata"]["license_files"].split() == LICENSES
    for name in LICENSES:
        assert (ROOT / name).is_file(), name


def test_installed_package_carries_the_licence_texts() -> None:
    dist = importlib.metadata.distribution("trio-promise")
    assert dist.metadata.get_all("License-File") == LICENSES
    files = {Path(str(f)).name: f for f in dist.files or []
             if ".dist-info" in str(f) and Path(str(f)).name in LICENSES}
    assert sorted(files) == sorted(LICENSES)
    texts = {name: Path(str(dist.locate_file(f))).read_text(encoding="utf-8")
             for name, f in files.items()}
    assert SPDX in texts["LICENSE"]
    assert "Permission is hereby granted, free of charge" in texts["LICENSE.MIT"]
    assert "trio_promise contributors" in texts["LICENSE.MIT"]
    assert "Apache License" in texts["LICENSE.APACHE2"]
    assert "END OF TERMS AND CONDITIONS" in texts["LICENSE.APACHE2"]


def test_readme_links_contributing_and_history() -> None:
    assert "(CONTRIBUTING.md)" in README
    assert "(docs/history.rst)" in README
    assert (ROOT / "CONTRIBUTING.md").is_file()


def test_no_separate_install_for_what_the_bench_extra_has() -> None:
    config = configparser.RawConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    bench = [re.split(r"[\s<>=;\[]", line.strip(), maxsplit=1)[0]
             for line in config["options.extras_require"]["bench"].splitlines()
             if line.strip()]
    assert "aiometer" in bench
    places = {"README.md": README, **DOCS,
              "benchmarks/README.md": (ROOT / "benchmarks" / "README.md").read_text(
                  encoding="utf-8")}
    for name, text in places.items():
        for package in bench:
            assert not re.search(rf"pip install {package}\b", text), (
                f"{name} says to install {package}, which the bench extra has")
            assert not re.search(
                rf"{package}[^.\n]*not in the .?bench.? extra", text), name


def test_readme_tours_first() -> None:
    # What it is, install, then a first example a newcomer can run, within
    # the first 40 lines; the jobs one by one; then the choice, the numbers.
    lines = README.splitlines()
    first_code = next(i for i, line in enumerate(lines) if line == "```python")
    assert first_code < 40, f"the first example starts at line {first_code + 1}"
    headings = [line[3:] for line in lines if line.startswith("## ")]
    assert headings[:3] == ["Install", "Quick start",
                            "A first example: one result, many readers"]
    jobs = ["Many waiters", "Spawn tasks", "Results as they come", "Match replies"]
    found = [next(i for i, h in enumerate(headings) if h.startswith(job)) for job in jobs]
    assert found == sorted(found)
    assert found[-1] < headings.index("Which one to use") < headings.index("Benchmarks")
    assert "(docs/protocol.rst)" in readme_section("Match replies to requests: `Correlator`")
    assert "(docs/benchmarks.rst)" in readme_section("Benchmarks")


def test_readme_quick_start_has_exactly_the_two_commands() -> None:
    block = readme_section("Quick start").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["python3 dev.py demo", "python3 dev.py check"]
