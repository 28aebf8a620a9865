#!/usr/bin/env python3
"""The project's two commands, each doing its own set-up.

    python3 dev.py demo    run examples/demo.py (many waiters, spawn + joins,
                           a Correlator exchange with a real language server)
    python3 dev.py check   run every check: ruff, flake8-async, mypy, a built
                           wheel inspected and installed, pyright (strict and
                           --verifytypes), pytest with branch coverage (100%),
                           the README's examples as doctests, the Sphinx docs
                           (-W, html and doctest)

Both create ./.venv with the standard library's venv module and install what
they need from setup.cfg, so nothing has to be installed by hand: a clone and
Python >= 3.10 are enough. The virtualenv is reused while setup.cfg and
pyproject.toml are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
DIST = ROOT / "build" / "dist"

DEMO_EXTRAS = "examples"
CHECK_EXTRAS = "test,docs,bench,examples"


def say(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    command = [str(a) for a in args]
    print("$", " ".join(command), flush=True)
    merged = {**os.environ, **(env or {})}
    # The coding client's and the shell's virtualenvs must not leak in.
    merged.pop("PYTHONPATH", None)
    merged["VIRTUAL_ENV"] = str(VENV)
    # pyright finds the interpreter (and so site-packages) through PATH.
    merged["PATH"] = str(BIN) + os.pathsep + merged.get("PATH", "")
    subprocess.run(command, cwd=ROOT, env=merged, check=True)


def output(*args: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def ensure_venv(extras: str) -> None:
    """Create .venv and install the extras' requirements, once per config."""
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    digest.update(extras.encode())
    digest.update(sys.version.encode())
    stamp = VENV / f".installed-{digest.hexdigest()[:16]}"
    if stamp.exists():
        return
    say(f"setting up {VENV.name} (python {sys.version.split()[0]}, extras {extras})")
    if not PY.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    # Install the requirements (and the package, replaced below by the wheel).
    run(PY, "-m", "pip", "install", "--quiet", f".[{extras}]")
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def build_and_install_wheel() -> Path:
    """Build the wheel, install exactly it; the tests run against it."""
    shutil.rmtree(DIST, ignore_errors=True)
    run(PY, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", DIST, ".")
    wheels = sorted(DIST.glob("trio_promise-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one wheel in {DIST}, found {wheels}")
    run(PY, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
        wheels[0])
    # setuptools leaves build/lib behind; it must not be mistaken for source.
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)
    return wheels[0]


def inspect_wheel(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    problems: list[str] = []
    if "trio_promise/py.typed" not in names:
        problems.append("py.typed is missing")
    for name in names:
        top = name.split("/")[0]
        if top in ("tests", "benchmarks", "examples", "docs"):
            problems.append(f"{name} must not ship")
    if problems:
        sys.exit("wheel check failed: " + "; ".join(problems))
    print(f"{wheel.name}: {len(names)} files, py.typed in, no tests/benchmarks/"
          "examples/docs")


def verifytypes() -> None:
    # Run outside the source tree, so that pyright judges the installed wheel
    # (it finds site-packages through the python first on PATH).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    with tempfile.TemporaryDirectory() as elsewhere:
        result = subprocess.run(
            [str(BIN / "pyright"), "--verifytypes", "trio_promise", "--ignoreexternal"],
            cwd=elsewhere, capture_output=True, text=True, env=env,
        )
    print(result.stdout[-3000:], result.stderr[-2000:])
    match = re.search(r"Type completeness score:\s*([\d.]+)%", result.stdout)
    if result.returncode != 0 or match is None or float(match.group(1)) != 100.0:
        sys.exit("pyright --verifytypes: type completeness is not 100%")
    # --verifytypes exits 0 on missing docstrings; the project does not.
    for kind in ("Functions", "Classes"):
        if f"{kind} without docstring: 0" not in result.stdout:
            sys.exit(f"pyright --verifytypes: {kind.lower()} without docstring")


def demo() -> None:
    ensure_venv(DEMO_EXTRAS)
    build_and_install_wheel()
    say("examples/demo.py")
    run(PY, ROOT / "examples" / "demo.py")


def check() -> None:
    started = time.monotonic()
    ensure_venv(CHECK_EXTRAS)
    failed: list[str] = []

    def step(title: str, *actions: Callable[[], None]) -> None:
        say(title)
        try:
            for action in actions:
                action()
        except (subprocess.CalledProcessError, SystemExit) as exc:
            print(f"FAILED: {title}: {exc}", flush=True)
            failed.append(title)

    step("ruff", lambda: run(BIN / "ruff", "check", "."))
    # ASYNC910/911 (a path through an async function without a checkpoint)
    # apply to the library, whose every async function promises one; the
    # examples, tests and benchmarks are user code and get the default rules.
    def sources(*folders: str) -> list[str]:
        # flake8-async on its own takes files, not folders.
        return sorted(str(p) for f in folders for p in (ROOT / f).rglob("*.py"))

    step(
        "flake8-async (all rules, with the opt-in checkpoint rules ASYNC9xx)",
        lambda: run(BIN / "flake8-async", "--enable=ASYNC", "--disable=",
                    *sources("trio_promise")),
        lambda: run(BIN / "flake8-async", *sources("examples", "tests", "benchmarks")),
    )
    step("mypy --strict (mypy.ini)", lambda: run(BIN / "mypy"))
    wheels: list[Path] = []
    step(
        "wheel: build, inspect, install",
        lambda: wheels.append(build_and_install_wheel()),
        lambda: inspect_wheel(wheels[0]),
    )
    if wheels:
        step("pyright --verifytypes trio_promise", verifytypes)
    step(
        "pyright strict (package, tests, type tests, examples, benchmarks)",
        lambda: run(BIN / "pyright"),
    )

    def pytest_with_coverage() -> None:
        for old in ROOT.glob(".coverage*"):
            old.unlink()
        # pytest by its script path: `python -m pytest` would put the source
        # tree first on sys.path and shadow the installed wheel.
        run(BIN / "coverage", "run", BIN / "pytest", "tests", "README.md",
            "--doctest-glob=README.md",
            env={"TRIO_PROMISE_REQUIRE_INSTALLED": "1"})
        run(BIN / "coverage", "report")

    if wheels:
        step("pytest + branch coverage (installed wheel) + README doctests",
             pytest_with_coverage)
    step(
        "sphinx docs (-W): html and doctest",
        *[
            (lambda builder=builder: run(
                BIN / "sphinx-build", "-E", "-W", "--keep-going", "-q", "-b", builder,
                "docs", ROOT / "docs" / "_build" / builder))
            for builder in ("html", "doctest")
        ],
    )
    elapsed = time.monotonic() - started
    if failed:
        sys.exit(f"\n{len(failed)} check(s) failed after {elapsed:.0f} s: "
                 + "; ".join(failed))
    say(f"all checks passed in {elapsed:.0f} s")


def main() -> None:
    commands = {"demo": demo, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"\nfailed: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})")


if __name__ == "__main__":
    main()
