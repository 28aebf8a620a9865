#!/usr/bin/env python3
"""The project's commands, each doing its own set-up.

    python3 dev.py demo    run examples/demo.py (many waiters, spawn + joins,
                           a Correlator exchange with a real language server)
    python3 dev.py check   run every check (CI runs exactly this): ruff,
                           flake8-async, mypy and pyright (strict), pyright
                           --verifytypes, the release metadata, a wheel and an
                           sdist built, inspected and passed through `twine
                           check --strict`, pytest with branch coverage (100%)
                           against the installed wheel, the README's examples
                           as doctests, the Sphinx docs (-W, html and doctest),
                           the slow sweeps, and the test suite on every other
                           supported CPython, with the oldest trio and outcome
                           that setup.cfg allows, and from the sdist
    python3 dev.py quick   the inner loop: ruff, then the test suite without
                           the sweeps, on this Python, from the source tree,
                           on every core (pytest-xdist)

Each creates ./.venv with the standard library's venv module, puts uv in it
(pip installs it), and lets uv install the rest from setup.cfg: a clone and
Python >= 3.10 are enough. (If uv cannot be installed, pip does everything,
more slowly.) The other interpreters get their own virtualenvs under
./.venvs/, with only what the test suite needs. Every virtualenv is reused
while setup.cfg, pyproject.toml and its interpreter are unchanged.

`check` looks for the CPython versions that setup.cfg's classifiers name
(`python3.X` on PATH, then pyenv's versions); one it cannot find is skipped
with a note, unless TRIO_PROMISE_REQUIRE_ALL_PYTHONS=1 (CI sets it). Its
steps run in parallel, longest first, as their inputs become ready; the
output of each is in build/logs/. When a step fails, the check prints its
failing tests (from pytest's junit XML) and the tail of its log. It ends with
its wall time and the CPU time of everything it ran.

How the test runs are divided (each choice is explained where it is made,
in `check()`): the sweeps (see tests/conftest.py) run once, on this Python;
the rest of the suite runs under branch coverage here and without it on
every other supported CPython; CPython 3.10 runs with the oldest trio and
outcome and also runs the sweeps that depend on the interpreter; the sdist
is installed in a fresh venv, its whole suite collected and a smoke subset run.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import venv
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENVS = ROOT / ".venvs"
BUILD = ROOT / "build"
DIST = BUILD / "dist"
LOGS = BUILD / "logs"

DEMO_EXTRAS = "examples"
CHECK_EXTRAS = "test,docs,bench,examples"
LICENSES = ("LICENSE", "LICENSE.MIT", "LICENSE.APACHE2")
# uv sets up a virtualenv in seconds where pip takes half a minute or more;
# it is the one thing pip installs.
UV_REQUIREMENT = "uv >= 0.5"

# What the test suite itself imports, taken with their bounds from the `test`
# extra: the other interpreters get these and nothing else (no linters, type
# checkers or Sphinx). python-lsp-server is among them, so that
# tests/test_lsp_real.py runs against a real pylsp on every interpreter: a
# skipped test fails a run.
SUITE_REQUIREMENTS = (
    "pytest", "pytest-trio", "hypothesis", "typing-extensions", "exceptiongroup",
    "python-lsp-server",
)
# These need the `bench` extra (aioresult, anyio, aiometer, matplotlib) or the
# `docs` extra (Sphinx) and test nothing about the interpreter: the benchmark
# suite's quick run, the docs' claims about the peers, and the API reference
# as Sphinx renders it. They run in .venv only.
MAIN_VENV_ONLY = (
    "tests/test_benchmarks_quick.py",
    "tests/test_docs_peers.py",
    "tests/test_docs_reference.py",
)
# The sdist's smoke run: the files that read the unpacked tree (README, docs,
# licences, setup.cfg) and check that the installed package is the one tested.
SDIST_SMOKE = (
    "tests/test_exports.py",
    "tests/test_docs.py",
    "tests/test_docs_release.py",
    "tests/test_future.py",
)


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def python_in(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


BIN = bin_dir(VENV)
PY = python_in(VENV)
UV = BIN / ("uv.exe" if os.name == "nt" else "uv")


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"\n=== [{time.monotonic() - STARTED:4.0f} s] {text}", flush=True)


def env_for(env_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    merged = {**os.environ, **(extra or {})}
    # The coding client's and the shell's virtualenvs must not leak in.
    merged.pop("PYTHONPATH", None)
    merged.pop("PYTHONHOME", None)
    # The virtualenvs are the check's own: let Python cache the bytecode of
    # what it imports there (pip compiles everything at install time; uv does
    # not, and compiling all of Sphinx, matplotlib and jedi up front costs
    # more than the check imports). Without this, where the variable is set,
    # every interpreter the check starts (pytest, pylsp, each docs example)
    # compiles its imports again.
    merged.pop("PYTHONDONTWRITEBYTECODE", None)
    merged["VIRTUAL_ENV"] = str(env_dir)
    # pyright finds the interpreter (and so site-packages) through PATH.
    merged["PATH"] = str(bin_dir(env_dir)) + os.pathsep + merged.get("PATH", "")
    return merged


class Out:
    """Where a step writes: the terminal, or its log file (parallel steps)."""

    def __init__(self, log: Path | None = None) -> None:
        self.log = log
        self.cpu = 0.0  # CPU seconds of the commands run, with their children
        self.file: TextIO | None = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            self.file = log.open("w", encoding="utf-8")

    def print(self, text: str) -> None:
        """Write one line."""
        if self.file is None:
            print(text, flush=True)
        else:
            self.file.write(text + "\n")
            self.file.flush()

    def run(
        self,
        *args: str | Path,
        venv_dir: Path = VENV,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        """Run a command in `venv_dir`'s environment; raise if it fails."""
        command = [str(a) for a in args]
        self.print("$ " + " ".join(command))
        process = subprocess.Popen(
            command, cwd=cwd, env=env_for(venv_dir, env),
            stdout=self.file, stderr=subprocess.STDOUT if self.file else None,
        )
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            self.cpu += usage.ru_utime + usage.ru_stime
        else:  # Windows
            process.wait()
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)

    def capture(self, *args: str | Path, venv_dir: Path = VENV) -> str:
        """Run a command and return its output."""
        return subprocess.run(
            [str(a) for a in args], cwd=ROOT, env=env_for(venv_dir), check=True,
            capture_output=True, text=True,
        ).stdout

    def close(self) -> None:
        """Close the log file, if any."""
        if self.file is not None:
            self.file.close()


TERMINAL = Out()


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    TERMINAL.run(*args, env=env)


# -- what setup.cfg says ------------------------------------------------------


def setup_cfg() -> configparser.RawConfigParser:
    config = configparser.RawConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def lines_of(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def requirement_name(line: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", line)
    assert match is not None, line
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def supported_pythons() -> list[tuple[int, int]]:
    """The CPython versions the classifiers name: exactly what check runs."""
    found = re.findall(
        r"Programming Language :: Python :: 3\.(\d+)\s*$",
        setup_cfg()["metadata"]["classifiers"], re.MULTILINE,
    )
    return [(3, int(minor)) for minor in found]


def floor_requirements() -> list[str]:
    """install_requires with each `>= X.Y` lower bound pinned to `==X.Y.*`."""
    pins = []
    for line in lines_of(setup_cfg()["options"]["install_requires"]):
        match = re.fullmatch(r"([A-Za-z0-9._-]+)\s*>=\s*([\d.]+)", line)
        if match is None:
            sys.exit(f"setup.cfg: cannot pin the lower bound of {line!r}")
        pins.append(f"{match.group(1)}=={match.group(2)}.*")
    return pins


def suite_requirements() -> list[str]:
    """The `test` extra's lines for what the test suite itself imports."""
    extra = lines_of(setup_cfg()["options.extras_require"]["test"])
    chosen = [line for line in extra if requirement_name(line) in SUITE_REQUIREMENTS]
    missing = set(SUITE_REQUIREMENTS) - {requirement_name(line) for line in chosen}
    if missing:
        sys.exit(f"setup.cfg: the test extra does not name {sorted(missing)}")
    return chosen


def stamp_for(env_dir: Path, *parts: str) -> Path:
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    for part in parts:
        digest.update(part.encode())
    return env_dir / f".installed-{digest.hexdigest()[:16]}"


# -- virtualenvs: uv if it could be installed, else pip -------------------------


def make_venv(out: Out, python: Path | str, env_dir: Path) -> None:
    shutil.rmtree(env_dir, ignore_errors=True)
    if UV.exists():
        out.run(UV, "venv", "--quiet", "--python", python, env_dir, venv_dir=env_dir)
    else:
        out.run(python, "-m", "venv", env_dir, venv_dir=env_dir)
        out.run(python_in(env_dir), "-m", "pip", "install", "--quiet", "--upgrade",
                "pip", venv_dir=env_dir)


def install(out: Out, env_dir: Path, *args: str | Path, again: str = "") -> None:
    """Install requirements into `env_dir`; `again`: reinstall that package."""
    if UV.exists():
        command: list[str | Path] = [
            UV, "pip", "install", "--quiet", "--python", python_in(env_dir)]
        if again:
            # Also past uv's cache, which keys a local file by its path.
            command += ["--reinstall-package", again, "--refresh-package", again]
    else:
        command = [python_in(env_dir), "-m", "pip", "install", "--quiet"]
        if again:
            command.append("--force-reinstall")
    out.run(*command, *args, venv_dir=env_dir)


def pip_check(out: Out, env_dir: Path) -> None:
    if UV.exists():
        out.run(UV, "pip", "check", "--python", python_in(env_dir), venv_dir=env_dir)
    else:
        out.run(python_in(env_dir), "-m", "pip", "check", venv_dir=env_dir)


def remove_build_leftovers() -> None:
    # setuptools leaves build/lib and trio_promise.egg-info in the tree; the
    # first must not be mistaken for source, the second not for the installed
    # package's metadata (the inner loop runs tests from the tree).
    shutil.rmtree(BUILD / "lib", ignore_errors=True)
    for info in ROOT.glob("*.egg-info"):
        shutil.rmtree(info, ignore_errors=True)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the extras' requirements, once per config."""
    stamp = stamp_for(VENV, extras, sys.version)
    if stamp.exists():
        return
    say(f"setting up {VENV.name} (python {sys.version.split()[0]}, extras {extras})")
    if not PY.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if not UV.exists():
        try:
            run(PY, "-m", "pip", "install", "--quiet", UV_REQUIREMENT)
        except subprocess.CalledProcessError:
            print("uv could not be installed: pip sets up the virtualenvs instead")
    # Install the requirements (and the package, replaced below by the wheel).
    install(TERMINAL, VENV, f".[{extras}]")
    remove_build_leftovers()
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


# -- interpreters -------------------------------------------------------------

_PROBE = (
    "import platform, sys, venv, ensurepip; "
    "print(platform.python_implementation(), '%d.%d' % sys.version_info[:2], "
    "platform.python_version(), sys.executable)"
)


def candidates(version: str) -> list[Path]:
    """Every place a `python3.X` may be, best first."""
    name = f"python{version}" + (".exe" if os.name == "nt" else "")
    places = [Path(p) / name for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    # pyenv's shims fail for versions that are installed but not selected
    # (`pyenv global`), so look at its versions directly too.
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installed = sorted(
        (pyenv_root / "versions").glob(f"{version}.*/bin/{name}"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)],
        reverse=True,
    )
    places += installed
    places += [Path(p) / name for p in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin")]
    return places


def find_python(version: str) -> tuple[Path, str] | None:
    """A working CPython `version` (venv and ensurepip included), or None."""
    seen: set[Path] = set()
    for place in candidates(version):
        if place in seen or not place.is_file():
            continue
        seen.add(place)
        try:
            probe = subprocess.run(
                [str(place), "-c", _PROBE], capture_output=True, text=True,
                timeout=60, check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        fields = probe.stdout.split(maxsplit=3)
        if probe.returncode == 0 and fields[:2] == ["CPython", version]:
            return Path(fields[3].strip()), fields[2]
    return None


# -- building and inspecting the artefacts ------------------------------------


def build_and_install_wheel() -> Path:
    """Build the wheel with pip, install exactly it (the demo's quick path)."""
    shutil.rmtree(DIST, ignore_errors=True)
    run(PY, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", DIST, ".")
    wheel = one_of(DIST.glob("trio_promise-*.whl"))
    install_wheel(TERMINAL, VENV, wheel)
    return wheel


def build_both(out: Out) -> tuple[Path, Path]:
    """`python -m build`: the sdist, then the wheel built *from the sdist*."""
    shutil.rmtree(DIST, ignore_errors=True)
    installer = ("--installer", "uv") if UV.exists() else ()
    out.run(PY, "-m", "build", *installer, "--outdir", DIST, ".")
    remove_build_leftovers()
    return (one_of(DIST.glob("trio_promise-*.tar.gz")),
            one_of(DIST.glob("trio_promise-*.whl")))


def one_of(paths: Iterable[Path]) -> Path:
    found = sorted(paths)
    if len(found) != 1:
        sys.exit(f"expected one artefact, found {found}")
    return found[0]


def install_wheel(out: Out, env_dir: Path, wheel: Path) -> None:
    install(out, env_dir, "--no-deps", wheel, again="trio-promise")
    remove_build_leftovers()


def inspect_wheel(out: Out, wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    problems: list[str] = []
    if "trio_promise/py.typed" not in names:
        problems.append("py.typed is missing")
    for name in names:
        top = name.split("/")[0]
        if top in ("tests", "benchmarks", "examples", "docs"):
            problems.append(f"{name} must not ship")
    dist_info = sorted(n for n in names if n.split("/")[0].endswith(".dist-info"))
    for licence in LICENSES:
        # setuptools >= 77 writes them under .dist-info/licenses/.
        if not any(n.endswith((f".dist-info/{licence}", f".dist-info/licenses/{licence}"))
                   for n in dist_info):
            problems.append(f"{licence} is missing from the .dist-info")
    if problems:
        sys.exit("wheel check failed: " + "; ".join(problems))
    out.print(f"{wheel.name}: {len(names)} files, py.typed in, no tests/benchmarks/"
              "examples/docs; .dist-info: "
              + ", ".join(n.split("/", 1)[1] for n in dist_info))


def expected_in_sdist() -> list[str]:
    """Every tracked file a user or packager needs to build, test and read."""
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        tracked = [str(p.relative_to(ROOT)) for folder in
                   ("trio_promise", "tests", "docs", "examples", "benchmarks")
                   for p in (ROOT / folder).rglob("*") if p.is_file()]
    ci_only = (".ci/", ".github/")
    return sorted(
        path for path in tracked
        if not path.startswith(ci_only)
        and Path(path).name != ".gitignore"
        and (ROOT / path).exists()
        and "/_build/" not in path and "__pycache__" not in path
    )


def inspect_sdist(out: Out, sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    top = sdist.name.removesuffix(".tar.gz") + "/"
    names = {m.removeprefix(top) for m in members}
    problems: list[str] = []
    required = {*LICENSES, "README.md", "PKG-INFO", "setup.cfg", "pyproject.toml",
                "trio_promise/py.typed", "docs/conf.py", "docs/index.rst"}
    missing = sorted((required | set(expected_in_sdist())) - names)
    if missing:
        problems.append("missing (add to MANIFEST.in): " + ", ".join(missing))
    junk = sorted(n for n in names if re.search(
        r"(^|/)(__pycache__|_build|\.venvs?|build|dist|\.hypothesis)/|\.py[co]$", n))
    if junk:
        problems.append("must not ship: " + ", ".join(junk[:10]))
    if problems:
        sys.exit("sdist check failed: " + "; ".join(problems))
    groups = sorted({n.split("/")[0] + ("/" if "/" in n else "") for n in names})
    out.print(f"{sdist.name}: {len(names)} files: " + " ".join(groups))


def check_release_metadata() -> None:
    """The classifiers, python_requires and the CI workflow name the same Pythons."""
    pythons = supported_pythons()
    problems = []
    floor = re.fullmatch(r">=\s*3\.(\d+)", setup_cfg()["options"]["python_requires"])
    if floor is None or (3, int(floor.group(1))) != min(pythons):
        problems.append("python_requires is not the oldest Python in the classifiers")
    if pythons != [(3, minor) for minor in range(min(pythons)[1], max(pythons)[1] + 1)]:
        problems.append(f"the classifiers skip a version: {pythons}")
    workflow = ROOT / ".github" / "workflows" / "ci.yml"
    listed = re.findall(r"^\s*(?:-\s*)?[\"']?(3\.\d+)[\"']?\s*$",
                        workflow.read_text(encoding="utf-8"), re.MULTILINE)
    if sorted({(3, int(v.split(".")[1])) for v in listed}) != pythons:
        problems.append(f"{workflow.relative_to(ROOT)} installs {listed}, "
                        f"the classifiers name {pythons}")
    if problems:
        sys.exit("release metadata: " + "; ".join(problems))
    print("classifiers, python_requires and the CI workflow agree: Python "
          + ", ".join(f"3.{m}" for _, m in pythons))


def verifytypes(out: Out) -> None:
    # Run outside the source tree, so that pyright judges the installed wheel
    # (it finds site-packages through the python first on PATH).
    elsewhere = BUILD / "verifytypes"
    elsewhere.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(BIN / "pyright"), "--verifytypes", "trio_promise", "--ignoreexternal"],
        cwd=elsewhere, capture_output=True, text=True, env=env_for(VENV),
    )
    out.print(result.stdout[-3000:] + result.stderr[-2000:])
    match = re.search(r"Type completeness score:\s*([\d.]+)%", result.stdout)
    if result.returncode != 0 or match is None or float(match.group(1)) != 100.0:
        sys.exit("pyright --verifytypes: type completeness is not 100%")
    # --verifytypes exits 0 on missing docstrings; the project does not.
    for kind in ("Functions", "Classes"):
        if f"{kind} without docstring: 0" not in result.stdout:
            sys.exit(f"pyright --verifytypes: {kind.lower()} without docstring")


def flake8_async(out: Out) -> None:
    """flake8-async, on the files changed since they last passed.

    It takes about 40 s of CPU for the tests alone, so the content hash of
    each file that passed (with the tool's version and options) is kept in
    build/, as mypy keeps its cache: a file is checked again when it, the
    options or flake8-async change.
    """
    cache = BUILD / "flake8-async-passed.json"
    try:
        passed = set(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        passed = set()
    tool = out.capture(PY, "-c", "import importlib.metadata as m; "
                       "print(m.version('flake8-async'))").strip()

    def sources(*folders: str) -> list[Path]:
        # flake8-async on its own takes files, not folders.
        return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))

    # ASYNC910/911 (a path through an async function without a checkpoint)
    # apply to the library, whose every async function promises one; the
    # examples, tests and benchmarks are user code and get the default rules.
    runs: list[tuple[tuple[str, ...], list[Path]]] = [
        (("--enable=ASYNC", "--disable="), sources("trio_promise")),
        ((), sources("examples", "tests", "benchmarks")),
    ]
    for options, files in runs:
        keys = {
            path: hashlib.sha256(
                "\0".join((tool, *options)).encode() + b"\0" + path.read_bytes()
            ).hexdigest()
            for path in files
        }
        todo = [path for path in files if keys[path] not in passed]
        out.print(f"flake8-async {' '.join(options)}: {len(todo)} of {len(files)} "
                  "files changed since they last passed")
        if todo:
            out.run(BIN / "flake8-async", *options, *todo)
        passed.update(keys[path] for path in todo)
    cache.write_text(json.dumps(sorted(passed)), encoding="utf-8")


# -- test runs -----------------------------------------------------------------


def junit_summary(xml: Path) -> tuple[str, bool]:
    """'567 passed, 0 skipped in 95 s', and whether it is all passes."""
    suite = ET.parse(xml).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    tests, failures, errors, skipped = (
        int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped"))
    passed = tests - failures - errors - skipped
    text = (f"{passed} passed, {failures} failed, {errors} errors, {skipped} skipped "
            f"in {float(suite.get('time', '0')):.0f} s")
    return text, failures == errors == skipped == 0 and tests > 0


def junit_problems(xml: Path) -> list[str]:
    """One line per failed, erroring or skipped test: its id and message."""
    if not xml.exists():
        return []
    lines = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                message = (child.get("message") or child.text or "").strip()
                message = message.splitlines()[0][:200] if message else ""
                path = case.get("classname", "")
                if not path.endswith(".md"):  # a doctest keeps its file name
                    path = path.replace(".", "/") + ".py"
                lines.append(f"{child.tag.upper()}: {path}::{case.get('name')}: {message}")
    return lines


def versions_in(out: Out, env_dir: Path) -> str:
    return out.capture(python_in(env_dir), "-c", (
        "import importlib.metadata as m, platform; "
        "print('CPython', platform.python_version(), ', '.join("
        "f'{n} {m.version(n)}' for n in ('trio', 'outcome', 'python-lsp-server')))"
    ), venv_dir=env_dir).strip()


def pytest_in(
    out: Out, env_dir: Path, slug: str, tree: Path, *args: str | Path,
    env: dict[str, str] | None = None,
) -> str:
    """Run pytest on the installed package; all must pass. Return a summary.

    pytest runs by its script path, from a directory outside `tree`:
    `python -m pytest`, or the tree as the current directory, would put the
    source first on sys.path (pytest-xdist's workers too) and shadow the
    installed wheel.
    """
    xml = LOGS / f"{slug}.xml"
    xml.unlink(missing_ok=True)
    elsewhere = BUILD / "runs" / slug
    elsewhere.mkdir(parents=True, exist_ok=True)
    described = versions_in(out, env_dir)
    pytest_failed = False
    try:
        out.run(
            bin_dir(env_dir) / "pytest", "-c", tree / "setup.cfg", "--rootdir", tree,
            *args, f"--junitxml={xml}", "-q", "-rfEs",
            venv_dir=env_dir, cwd=elsewhere,
            env={"TRIO_PROMISE_REQUIRE_INSTALLED": "1", **(env or {})},
        )
    except subprocess.CalledProcessError:
        pytest_failed = True
    if not xml.exists():
        sys.exit(f"{described}: pytest wrote no report")
    summary, ok = junit_summary(xml)
    line = f"{described}: {summary}"
    out.print(line)
    if pytest_failed or not ok:
        skipped_only = ", 0 failed, 0 errors," in line
        sys.exit(line + (" (a skipped test fails the run)" if skipped_only else ""))
    return line


def suite_args(tree: Path, marks: str) -> list[str | Path]:
    return [tree / "tests", "-m", marks,
            *(f"--ignore={tree / path}" for path in MAIN_VENV_ONLY)]


# -- running the steps ---------------------------------------------------------


@dataclass
class Step:
    """One step of the check: a body writing to its own log."""

    title: str
    body: Callable[[Out], list[str] | None]
    cost: float  # CPU seconds, measured: the costliest start first
    needs: tuple[str, ...] = ()  # titles of the steps that must pass first
    cores: int = 1  # how many processes it keeps busy (pytest-xdist)
    slug: str = ""  # the name of its junit XML in build/logs/, if it has one


@dataclass
class Result:
    """How a step ended."""

    step: Step
    ok: bool
    seconds: float
    cpu: float
    lines: list[str]


def run_steps(steps: list[Step], cores: int) -> list[Result]:
    """Run the steps in parallel, about `cores` + 2 processes at a time.

    A step starts once the steps it needs have passed, in the order of the
    longest chain of costs that starts with it (the build, that every test
    run needs, first); one whose needs failed is reported as failed, not run.
    A step may take the last free place even if it runs more than one
    process: rather one process too many for a while than an idle core.
    (Two more processes than cores: set-ups and pylsp wait on I/O.)
    """
    budget = cores + 2
    lock = threading.Condition()
    busy = 0
    chain: dict[str, float] = {}

    def longest(step: Step) -> float:
        if step.title not in chain:
            after = [longest(s) for s in steps if step.title in s.needs]
            chain[step.title] = step.cost + max(after, default=0.0)
        return chain[step.title]

    waiting = sorted(steps, key=lambda s: -longest(s))
    done: dict[str, Result] = {}
    threads: list[threading.Thread] = []

    def finish(result: Result, log: Path) -> None:
        step = result.step
        say(f"{step.title}: {'ok' if result.ok else 'FAILED'} ({result.seconds:.0f} s, "
            f"CPU {result.cpu:.0f} s; {log.relative_to(ROOT)})")
        for line in result.lines:
            print(f"  {line}")
        if not result.ok:
            # Enough to diagnose from CI's output alone: the failing tests,
            # then the end of the log.
            failing = junit_problems(LOGS / f"{step.slug}.xml") if step.slug else []
            if failing:
                print(f"--- failing tests ({len(failing)}):")
                print("\n".join(failing[:50]))
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()
            print(f"--- the last {min(len(tail), 80)} lines of {log.relative_to(ROOT)}:")
            print("\n".join(tail[-80:]))
            print(f"--- FAILED: {step.title}", flush=True)

    def work(step: Step, index: int) -> None:
        nonlocal busy
        slug = re.sub(r"[^a-z0-9.]+", "-", step.title.lower()).strip("-")[:60]
        log = LOGS / f"{index:02d}-{slug}.log"
        out = Out(log)
        began = time.monotonic()
        lines: list[str] = []
        ok = False
        try:
            lines = step.body(out) or []
            ok = True
        except subprocess.CalledProcessError as exc:
            lines = [f"FAILED: {' '.join(map(str, exc.cmd))[:300]} (exit {exc.returncode})"]
        except SystemExit as exc:
            lines = [f"FAILED: {exc}"]
        except Exception as exc:  # a bug in this script: report it with the rest
            lines = [f"FAILED: {exc!r}"]
        finally:
            out.close()
        result = Result(step, ok, time.monotonic() - began, out.cpu, lines)
        with lock:
            done[step.title] = result
            busy -= step.cores
            finish(result, log)
            lock.notify_all()

    def pick() -> Step | None:
        # The first ready step in order, or None: wait for a step to end.
        for step in waiting:
            needs = [done.get(title) for title in step.needs]
            if any(result is not None and not result.ok for result in needs):
                return step  # to be reported as not run
            if all(result is not None for result in needs):
                return step if busy < budget else None
        return None

    LOGS.mkdir(parents=True, exist_ok=True)
    with lock:
        while waiting:
            step = pick()
            if step is None:
                lock.wait()
                continue
            waiting.remove(step)
            failed = [t for t in step.needs if t in done and not done[t].ok]
            if failed:
                done[step.title] = Result(
                    step, False, 0.0, 0.0, [f"not run: {', '.join(failed)} failed"])
                say(f"{step.title}: FAILED (not run: {', '.join(failed)} failed)")
                continue
            busy += step.cores
            say(f"start: {step.title}")
            thread = threading.Thread(target=work, args=(step, len(threads)))
            threads.append(thread)
            thread.start()
    for thread in threads:
        thread.join()
    return [done[step.title] for step in steps]


# -- the commands -------------------------------------------------------------


def demo() -> None:
    ensure_venv(DEMO_EXTRAS)
    build_and_install_wheel()
    say("examples/demo.py")
    run(PY, ROOT / "examples" / "demo.py")


def quick() -> None:
    """The inner loop: ruff, then every test but the sweeps, from the tree."""
    started = time.monotonic()
    ensure_venv(CHECK_EXTRAS)
    remove_build_leftovers()
    say("ruff")
    run(BIN / "ruff", "check", ".")
    say("pytest, without the sweeps, on every core, from the source tree")
    # `python -m pytest`: the tree's trio_promise/ comes first on sys.path,
    # so an edit is tested without building anything.
    run(PY, "-m", "pytest", "-m", "not sweep", "-n", "auto", "-q", "-p", "no:randomly")
    say(f"quick checks passed in {time.monotonic() - started:.0f} s "
        "(the sweeps, coverage, types, docs and the other Pythons: dev.py check)")


def cpu_used() -> str:
    """Say how much CPU time every process the check ran used.

    Wall time on a shared machine says little; CPU time / cores says what the
    check costs on its own.
    """
    try:
        import resource
    except ImportError:  # Windows
        return "CPU time: not measured on this platform"
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    cores = os.cpu_count() or 1
    return (f"CPU time of all steps: {cpu:.0f} s (user + system), that is "
            f"{cpu / cores:.0f} s of wall time on {cores} otherwise idle cores")


def check() -> None:
    started = time.monotonic()
    ensure_venv(CHECK_EXTRAS)
    say("ruff, release metadata")
    failed: list[str] = []
    quick_ones: list[tuple[str, Callable[[], None]]] = [
        ("ruff", lambda: run(BIN / "ruff", "check", ".")),
        ("release metadata: classifiers, python_requires, CI workflow",
         check_release_metadata),
    ]
    for title, action in quick_ones:
        try:
            action()
        except (subprocess.CalledProcessError, SystemExit) as exc:
            print(f"FAILED: {title}: {exc}", flush=True)
            failed.append(title)

    here = sys.version_info[:2]
    pythons = {v: find_python(dotted(v)) for v in supported_pythons() if v != here}
    skipped_pythons = [v for v, found in pythons.items() if found is None]
    available = {v: found for v, found in pythons.items() if found is not None}

    artefacts: list[Path] = []  # the sdist, then the wheel
    steps: list[Step] = []
    built = "sdist and wheel: python -m build, inspect, twine check --strict"

    def build(out: Out) -> None:
        sdist, wheel = build_both(out)
        inspect_sdist(out, sdist)
        inspect_wheel(out, wheel)
        out.run(BIN / "twine", "check", "--strict", sdist, wheel)
        install_wheel(out, VENV, wheel)
        artefacts.extend((sdist, wheel))

    steps.append(Step(built, build, cost=5))

    # The costs below are the CPU seconds each step took from a fresh clone
    # (the check prints them); they only order the steps (the longest chain
    # first, so that none is left to run alone at the end).

    # -- this Python (.venv: every extra), the installed wheel --
    # The suite without the sweeps, under branch coverage: 100% must come
    # from the ordinary tests alone, which are deterministic. (The sweeps
    # reach their lines by searching: a line that only they reach is a line
    # that a scheduling order may miss; and under the tracer their 100,000
    # cycles would cost several times as much.) Plus the README's doctests.
    main = f"pytest, CPython {dotted(here)}: the suite but the sweeps, branch coverage"

    def covered(out: Out) -> list[str]:
        for old in (BUILD / "runs" / "coverage").glob(".coverage*"):
            old.unlink()
        line = pytest_in(
            out, VENV, "coverage", ROOT, ROOT / "tests", ROOT / "README.md",
            "--doctest-glob=README.md", "-m", "not sweep", "-p", "no:randomly",
            # The threshold is the report's below, which lists what is missed.
            "--cov", f"--cov-config={ROOT / 'setup.cfg'}", "--cov-report=",
            "--cov-fail-under=0",
            "-n", "2", "--dist", "worksteal",
        )
        # pytest-cov has combined the workers' data (mapping site-packages
        # back to trio_promise/, [coverage:paths]); report from the tree.
        out.run(BIN / "coverage", "report",
                f"--data-file={BUILD / 'runs' / 'coverage' / '.coverage'}")
        return [f"{line}; branch coverage 100%"]

    steps.append(Step(main, covered, cost=75, needs=(built,), cores=2, slug="coverage"))

    # The sweeps, once, here, without coverage, on both cores.
    sweeps = f"pytest, CPython {dotted(here)}: the sweeps"
    steps.append(Step(sweeps, lambda out: [pytest_in(
        out, VENV, "sweeps", ROOT, ROOT / "tests", "-m", "sweep",
        "-n", "2", "--dist", "worksteal")],
        cost=125, needs=(built,), cores=2, slug="sweeps"))

    # -- the other Pythons, in virtualenvs with what the suite imports --
    # The oldest supported CPython runs with the oldest trio and outcome
    # setup.cfg allows; it is the one run of that pair of floors. There is
    # no second run of it with the newest ones: every line of the library
    # that only 3.10 runs (the version branches) runs here, and the newest
    # trio and outcome run on every other Python. It also runs the sweeps
    # that depend on the interpreter (tests/conftest.py: 3.10 runs a line
    # that later versions do not, and makes frames eagerly).
    suite = suite_requirements()
    runtime = lines_of(setup_cfg()["options"]["install_requires"])
    oldest = min([*available, here])
    for version, (python, full) in sorted(available.items()):
        floor = version == oldest
        label = f"py{dotted(version)}" + ("-oldest-deps" if floor else "")
        requirements = [*(floor_requirements() if floor else runtime), *suite]
        venv_step = f"virtualenv .venvs/{label}"

        def set_up(out: Out, python: Path = python, label: str = label,
                   requirements: list[str] = requirements) -> list[str]:
            env_dir = VENVS / label
            stamp = stamp_for(env_dir, str(python), *requirements)
            if not stamp.exists():
                make_venv(out, python, env_dir)
                install(out, env_dir, *requirements)
                stamp.touch()
            return []

        def suite_on(out: Out, label: str = label, floor: bool = floor) -> list[str]:
            env_dir = VENVS / label
            install_wheel(out, env_dir, artefacts[1])
            pip_check(out, env_dir)
            marks = "not sweep or interpreter_sweep" if floor else "not sweep"
            return [pytest_in(out, env_dir, label, ROOT, *suite_args(ROOT, marks))]

        what = (f"oldest deps ({' '.join(floor_requirements())}) and the "
                "interpreter sweeps" if floor else "newest deps")
        steps.append(Step(venv_step, set_up, cost=5))
        steps.append(Step(f"pytest, CPython {full}: the suite but the sweeps, {what}",
                          suite_on, cost=55 if floor else 45,
                          needs=(built, venv_step), slug=label))

    # -- the sdist, in a fresh venv --
    # The wheel tested everywhere above was built from this sdist, and the
    # build step has compared the sdist's files with `git ls-files`. What is
    # left to prove is that the sdist installs and tests itself: every test
    # file collects from the unpacked tree, and the files that read the tree
    # (README, docs, licences, setup.cfg) pass. The whole suite again would
    # repeat the runs above.
    def sdist_smoke(out: Out) -> list[str]:
        sdist = artefacts[0]
        where = BUILD / "sdist-test"
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        with tarfile.open(sdist) as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12
                tar.extractall(where, filter="data")
            else:
                tar.extractall(where)  # our own sdist, just built
        tree = where / sdist.name.removesuffix(".tar.gz")
        env_dir = where / "venv"
        make_venv(out, sys.executable, env_dir)
        # The installer builds the sdist and resolves install_requires from
        # its metadata.
        install(out, env_dir, sdist, *suite, again="trio-promise")
        # Every test file imports from the unpacked tree (exit 2 if one fails).
        out.run(bin_dir(env_dir) / "pytest", "-c", tree / "setup.cfg", "--rootdir",
                tree, *suite_args(tree, "sweep or not sweep"), "--collect-only", "-q",
                venv_dir=env_dir, cwd=where)
        smoke = pytest_in(out, env_dir, "sdist", tree, *(tree / f for f in SDIST_SMOKE))
        return [f"{sdist.name} in a fresh venv: every test file collects; smoke run "
                f"of {len(SDIST_SMOKE)} files: {smoke.split(': ', 1)[1]}"]

    steps.append(Step(f"the sdist in a fresh venv: collect all, run {len(SDIST_SMOKE)} files",
                      sdist_smoke, cost=10, needs=(built,), slug="sdist"))

    # -- static checks and docs --
    steps.append(Step("pyright --verifytypes trio_promise (the installed wheel)",
                      verifytypes, cost=5, needs=(built,)))
    steps.append(Step("pyright strict (package, tests, type tests, examples, benchmarks)",
                      lambda out: out.run(BIN / "pyright"), cost=13))

    def sphinx(out: Out) -> None:
        for builder in ("html", "doctest"):
            out.run(BIN / "sphinx-build", "-E", "-W", "--keep-going", "-q", "-b",
                    builder, "docs", ROOT / "docs" / "_build" / builder)

    steps.append(Step("sphinx docs (-W): html and doctest", sphinx, cost=5))
    steps.append(Step("mypy --strict (mypy.ini)", lambda out: out.run(BIN / "mypy"),
                      cost=8))
    steps.append(Step("flake8-async (ASYNC9xx on the library; changed files only)",
                      flake8_async, cost=45))

    cores = os.cpu_count() or 2
    say(f"{len(steps)} steps, about {cores + 2} processes at once; logs in "
        f"{LOGS.relative_to(ROOT)}/")
    results = run_steps(steps, cores)
    failed += [r.step.title for r in results if not r.ok]

    elapsed = time.monotonic() - started
    say("summary (wall s, CPU s)")
    for result in sorted(results, key=lambda r: -r.cpu):
        print(f"  {'ok    ' if result.ok else 'FAILED'} {result.seconds:5.0f} "
              f"{result.cpu:5.0f}  {result.step.title}")
        for line in result.lines:
            print(f"           {line}")
    for version in skipped_pythons:
        print(f"  CPython {dotted(version)}: SKIPPED, not found on PATH or in pyenv")
    if skipped_pythons and os.environ.get("TRIO_PROMISE_REQUIRE_ALL_PYTHONS") == "1":
        failed.append("every supported CPython (TRIO_PROMISE_REQUIRE_ALL_PYTHONS=1)")
    print(f"\n{cpu_used()}")
    # Every pytest run's count, added up, alone on a line.
    counts = [0, 0, 0]
    for result in results:
        xml = LOGS / f"{result.step.slug}.xml"
        if result.step.slug and xml.exists():
            report = ET.parse(xml).getroot()
            report = report[0] if report.tag == "testsuites" else report
            tests, bad, errors, skipped = (
                int(report.get(k, "0")) for k in ("tests", "failures", "errors", "skipped"))
            counts[0] += tests - bad - errors - skipped
            counts[1] += bad + errors
            counts[2] += skipped
    print(f"tests: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped", flush=True)
    if failed:
        sys.exit(f"\ncheck: {len(failed)} step(s) FAILED, wall time {elapsed:.0f} s: "
                 + "; ".join(failed))
    say(f"check: all passed, wall time {elapsed:.0f} s")


def main() -> None:
    commands = {"demo": demo, "check": check, "quick": quick}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"\nfailed: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})")


if __name__ == "__main__":
    main()
