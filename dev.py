#!/usr/bin/env python3
"""The project's two commands, each doing its own set-up.

    python3 dev.py demo    run examples/demo.py (many waiters, spawn + joins,
                           a Correlator exchange with a real language server)
    python3 dev.py check   run every check: ruff, flake8-async, mypy, the
                           release metadata, a wheel and an sdist built,
                           inspected and passed through `twine check
                           --strict`, pyright (strict and --verifytypes),
                           pytest with branch coverage (100%) against the
                           installed wheel, the README's examples as doctests,
                           the Sphinx docs (-W, html and doctest), and the test
                           suite again on every other supported CPython, with
                           the oldest trio and outcome that setup.cfg allows,
                           and from the sdist installed in a fresh venv

Both create ./.venv with the standard library's venv module and install what
they need from setup.cfg, so nothing has to be installed by hand: a clone and
Python >= 3.10 are enough. The other interpreters get their own virtualenvs
under ./.venvs/, with only what the test suite needs. Every virtualenv is
reused while setup.cfg, pyproject.toml and its interpreter are unchanged.

`check` looks for the CPython versions that setup.cfg's classifiers name
(`python3.X` on PATH, then pyenv's versions); one it cannot find is skipped
with a note, unless TRIO_PROMISE_REQUIRE_ALL_PYTHONS=1 (CI sets it). The
independent steps run in parallel (one more worker than CPUs); the output of
each is in build/logs/, and its tail is printed when it fails.
"""

from __future__ import annotations

import concurrent.futures
import configparser
import hashlib
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
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENVS = ROOT / ".venvs"
BUILD = ROOT / "build"
DIST = BUILD / "dist"
LOGS = BUILD / "logs"

DEMO_EXTRAS = "examples"
CHECK_EXTRAS = "test,docs,bench,examples"
LICENSES = ("LICENSE", "LICENSE.MIT", "LICENSE.APACHE2")

# What the test suite itself imports, taken with their bounds from the `test`
# extra: the other interpreters get these and nothing else (no linters, type
# checkers or Sphinx). python-lsp-server is among them, so that
# tests/test_lsp_real.py runs against a real pylsp on every interpreter: a
# skipped test fails a run.
SUITE_REQUIREMENTS = (
    "pytest", "pytest-trio", "hypothesis", "typing-extensions", "exceptiongroup",
    "python-lsp-server",
)
# These need the `bench` extra (aioresult, anyio, matplotlib) and test nothing
# about the interpreter: the benchmark suite's quick run, and the docs' claims
# about the peers. They run in .venv only.
MAIN_VENV_ONLY = (
    "tests/test_benchmarks_quick.py",
    "tests/test_docs_peers.py",
    "tests/test_amap_memory.py",
)


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def python_in(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


BIN = bin_dir(VENV)
PY = python_in(VENV)


STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"\n=== [{time.monotonic() - STARTED:4.0f} s] {text}", flush=True)


def env_for(env_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    merged = {**os.environ, **(extra or {})}
    # The coding client's and the shell's virtualenvs must not leak in.
    merged.pop("PYTHONPATH", None)
    merged.pop("PYTHONHOME", None)
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


def ensure_venv(extras: str) -> None:
    """Create .venv and install the extras' requirements, once per config."""
    stamp = stamp_for(VENV, extras, sys.version)
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


def build_both() -> tuple[Path, Path]:
    """`python -m build`: the sdist, then the wheel built *from the sdist*."""
    shutil.rmtree(DIST, ignore_errors=True)
    run(PY, "-m", "build", "--quiet", "--outdir", DIST, ".")
    # setuptools leaves build/lib behind; it must not be mistaken for source.
    shutil.rmtree(BUILD / "lib", ignore_errors=True)
    return (one_of(DIST.glob("trio_promise-*.tar.gz")),
            one_of(DIST.glob("trio_promise-*.whl")))


def one_of(paths: Iterable[Path]) -> Path:
    found = sorted(paths)
    if len(found) != 1:
        sys.exit(f"expected one artefact, found {found}")
    return found[0]


def install_wheel(out: Out, env_dir: Path, wheel: Path) -> None:
    out.run(python_in(env_dir), "-m", "pip", "install", "--quiet",
            "--force-reinstall", "--no-deps", wheel, venv_dir=env_dir)
    shutil.rmtree(BUILD / "lib", ignore_errors=True)


def inspect_wheel(wheel: Path) -> None:
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
    print(f"{wheel.name}: {len(names)} files, py.typed in, no tests/benchmarks/"
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


def inspect_sdist(sdist: Path) -> None:
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
    print(f"{sdist.name}: {len(names)} files: " + " ".join(groups))


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


# -- the test suite on other interpreters and dependency sets ------------------


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
    return text, failures == errors == skipped == 0


def versions_in(out: Out, env_dir: Path) -> str:
    return out.capture(python_in(env_dir), "-c", (
        "import importlib.metadata as m, platform; "
        "print('CPython', platform.python_version(), ', '.join("
        "f'{n} {m.version(n)}' for n in ('trio', 'outcome', 'python-lsp-server')))"
    ), venv_dir=env_dir).strip()


def run_suite(out: Out, env_dir: Path, slug: str, tests: Path, cwd: Path) -> list[str]:
    """Run pytest (no coverage) on the installed package; all must pass."""
    xml = LOGS / f"{slug}.xml"
    xml.unlink(missing_ok=True)
    described = versions_in(out, env_dir)
    pytest_failed = False
    try:
        out.run(
            bin_dir(env_dir) / "pytest", tests, "-c", tests.parent / "setup.cfg",
            "--rootdir", tests.parent,
            *(f"--ignore={tests.parent / path}" for path in MAIN_VENV_ONLY),
            f"--junitxml={xml}", "-q", "-rfEs",
            venv_dir=env_dir, cwd=cwd, env={"TRIO_PROMISE_REQUIRE_INSTALLED": "1"},
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
    return [line]


def suite_on(python: Path, label: str, requirements: Sequence[str],
             wheel: Path) -> Callable[[Out], list[str]]:
    """A job: a reused venv for `python` with `requirements`, the wheel, pytest."""

    def job(out: Out) -> list[str]:
        env_dir = VENVS / label
        stamp = stamp_for(env_dir, str(python), *requirements)
        if not stamp.exists():
            out.print(f"setting up {env_dir.relative_to(ROOT)}")
            out.run(python, "-m", "venv", "--clear", env_dir, venv_dir=env_dir)
            pip = (python_in(env_dir), "-m", "pip", "install", "--quiet")
            out.run(*pip, "--upgrade", "pip", venv_dir=env_dir)
            out.run(*pip, *requirements, venv_dir=env_dir)
            stamp.touch()
        install_wheel(out, env_dir, wheel)
        out.run(python_in(env_dir), "-m", "pip", "check", venv_dir=env_dir)
        return run_suite(out, env_dir, label, ROOT / "tests", cwd=env_dir)

    return job


def sdist_suite(sdist: Path) -> Callable[[Out], list[str]]:
    """A job: unpack the sdist, install it in a fresh venv, run its own tests."""

    def job(out: Out) -> list[str]:
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
        out.run(sys.executable, "-m", "venv", env_dir, venv_dir=env_dir)
        # pip builds the sdist and resolves install_requires from its metadata.
        out.run(python_in(env_dir), "-m", "pip", "install", "--quiet", sdist,
                *suite_requirements(), venv_dir=env_dir)
        lines = run_suite(out, env_dir, "sdist", tree / "tests", cwd=tree)
        return [f"{sdist.name} in a fresh venv, its own tests: " + lines[0]]

    return job


# -- the commands -------------------------------------------------------------


def demo() -> None:
    ensure_venv(DEMO_EXTRAS)
    build_and_install_wheel()
    say("examples/demo.py")
    run(PY, ROOT / "examples" / "demo.py")


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


def no_summary(action: Callable[[Out], object]) -> Callable[[Out], list[str]]:
    def job(out: Out) -> list[str]:
        action(out)
        return []

    return job


def check() -> None:
    started = time.monotonic()
    ensure_venv(CHECK_EXTRAS)
    failed: list[str] = []
    summaries: list[str] = []

    def step(title: str, *actions: Callable[[], None]) -> bool:
        say(title)
        try:
            for action in actions:
                action()
        except (subprocess.CalledProcessError, SystemExit) as exc:
            print(f"FAILED: {title}: {exc}", flush=True)
            failed.append(title)
            return False
        return True

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
    step("release metadata: classifiers, python_requires, CI workflow",
         check_release_metadata)
    built: list[Path] = []
    built_ok = step(
        "sdist and wheel: python -m build, inspect, twine check --strict, install",
        lambda: built.extend(build_both()),
        lambda: inspect_sdist(built[0]),
        lambda: inspect_wheel(built[1]),
        lambda: run(BIN / "twine", "check", "--strict", *built),
        lambda: install_wheel(TERMINAL, VENV, built[1]),
    )

    # The rest is independent: run it in parallel, longest first.
    jobs: list[tuple[str, Callable[[Out], list[str]]]] = []

    def pytest_with_coverage(out: Out) -> list[str]:
        for old in ROOT.glob(".coverage*"):
            old.unlink()
        xml = LOGS / "main.xml"
        # pytest by its script path: `python -m pytest` would put the source
        # tree first on sys.path and shadow the installed wheel.
        out.run(BIN / "coverage", "run", BIN / "pytest", "tests", "README.md",
                "--doctest-glob=README.md", f"--junitxml={xml}", "-rfEs",
                env={"TRIO_PROMISE_REQUIRE_INSTALLED": "1"})
        out.run(BIN / "coverage", "report")
        summary, ok = junit_summary(xml)
        described = versions_in(out, VENV)
        if not ok:
            sys.exit(f"{described}: {summary}")
        return [f"{described} (.venv, every extra, branch coverage 100%): {summary}"]

    pythons: dict[tuple[int, int], tuple[Path, str] | None] = {}
    here = sys.version_info[:2]
    for version in supported_pythons():
        if version != here:
            pythons[version] = find_python(dotted(version))
    suite = suite_requirements()
    skipped_pythons = [v for v, found in pythons.items() if found is None]
    if built_ok:
        wheel, sdist = built[1], built[0]
        jobs.append(("pytest + branch coverage (installed wheel) + README doctests",
                     pytest_with_coverage))
        jobs.append((f"test suite from the sdist ({sdist.name}), fresh venv",
                     sdist_suite(sdist)))
        available = {v: found[0] for v, found in pythons.items() if found is not None}
        available[here] = Path(sys.executable)
        oldest = min(available)
        floor = floor_requirements()
        label = f"py{dotted(oldest)}-oldest-deps"
        jobs.append((f"test suite, CPython {dotted(oldest)}, oldest deps: "
                     + " ".join(floor),
                     suite_on(available[oldest], label, [*floor, *suite], wheel)))
        runtime = lines_of(setup_cfg()["options"]["install_requires"])
        for version, found in sorted(pythons.items()):
            if found is not None:
                jobs.append((f"test suite, CPython {found[1]} ({found[0]}), newest deps",
                             suite_on(found[0], f"py{dotted(version)}", [*runtime, *suite],
                                      wheel)))
        jobs.append(("pyright --verifytypes trio_promise", no_summary(verifytypes)))
    jobs.append(("pyright strict (package, tests, type tests, examples, benchmarks)",
                 no_summary(lambda out: out.run(BIN / "pyright"))))

    def sphinx(out: Out) -> None:
        for builder in ("html", "doctest"):
            out.run(BIN / "sphinx-build", "-E", "-W", "--keep-going", "-q", "-b",
                    builder, "docs", ROOT / "docs" / "_build" / builder)

    jobs.append(("sphinx docs (-W): html and doctest", no_summary(sphinx)))
    jobs.append(("mypy --strict (mypy.ini)", no_summary(lambda out: out.run(BIN / "mypy"))))

    workers = (os.cpu_count() or 2) + 1
    say(f"{len(jobs)} steps in parallel ({workers} at once; logs in "
        f"{LOGS.relative_to(ROOT)}/)")
    print("\n".join(f"  - {title}" for title, _ in jobs), flush=True)
    lock = threading.Lock()

    def start(index: int, title: str, body: Callable[[Out], list[str]]) -> None:
        log = LOGS / f"{index:02d}-{re.sub(r'[^a-z0-9.]+', '-', title.lower())[:60]}.log"
        out = Out(log)
        began = time.monotonic()
        try:
            lines = body(out)
            error = None
        except (subprocess.CalledProcessError, SystemExit) as exc:
            lines, error = [], exc
        except Exception as exc:  # a bug in this script: report it with the rest
            lines, error = [], exc
        finally:
            out.close()
        with lock:
            say(f"{title}: {'ok' if error is None else 'FAILED'} "
                f"({time.monotonic() - began:.0f} s, CPU {out.cpu:.0f} s; "
                f"{log.relative_to(ROOT)})")
            for line in lines:
                print(f"  {line}")
                summaries.append(line)
            if error is not None:
                summaries.append(f"FAILED: {error}" if isinstance(error, SystemExit)
                                 else f"FAILED: {title}")
                tail = log.read_text(encoding="utf-8", errors="replace").splitlines()
                print("\n".join(tail[-60:]))
                print(f"FAILED: {title}: {error}", flush=True)
                failed.append(title)

    LOGS.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for index, (title, body) in enumerate(jobs):
            pool.submit(start, index, title, body)

    elapsed = time.monotonic() - started
    say("test suite runs")
    for line in summaries:
        print(f"  {line}")
    for version in skipped_pythons:
        print(f"  CPython {dotted(version)}: SKIPPED, not found on PATH or in pyenv")
    print("  Every run includes tests/test_lsp_real.py against a real pylsp (a skipped "
          f"test fails a run); {', '.join(MAIN_VENV_ONLY)} (the bench extra, or "
          "half a minute of tracemalloc) run in .venv only.")
    if skipped_pythons and os.environ.get("TRIO_PROMISE_REQUIRE_ALL_PYTHONS") == "1":
        failed.append("every supported CPython (TRIO_PROMISE_REQUIRE_ALL_PYTHONS=1)")
    print(f"\n{cpu_used()}", flush=True)
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
