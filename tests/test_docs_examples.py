"""Every Python example in the README and in docs/*.rst runs as it is shown.

A newcomer copies one block into a file and runs it. So each block is run on
its own, in a fresh interpreter (``python -I``, in an empty directory, against
the installed package), and fails the test on any error:

* a program (a README ``python`` fence without prompts, an rst
  ``testcode``) is executed, and its output compared with the ``testoutput``
  block that follows it, if any;
* a block with ``>>>`` prompts (a README fence, an rst ``doctest``) is run as
  a doctest.

A block that builds on the one before says so on its first line::

    # continues the example above

(``>>> # continues the example above`` in a doctest block). That line is
visible where the block is shown, and it is the only way a block may use
names from an earlier one: the test runs it after the blocks it continues,
in the same interpreter. Sphinx's own doctest build (``dev.py check``) runs
the rst blocks too, but with one namespace per page, so it cannot see a block
that fails on its own; this test can.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SOURCES = [ROOT / "README.md", *sorted(DOCS.glob("*.rst"))]

MARKER = "# continues the example above"
_MARKED = re.compile(r"^(>>> )?" + re.escape(MARKER) + r"\s*$")

# As in docs/conf.py (doctest_default_flags): messages are compared in full.
FLAGS = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1


@dataclass
class Block:
    source: str  # file name, for messages
    line: int  # 1-based line of the block's first code line
    kind: str  # "program" or "doctest"
    code: str
    expected: str | None = None  # a program's testoutput, if shown

    @property
    def continues(self) -> bool:
        first = next((line for line in self.code.splitlines() if line.strip()), "")
        return bool(_MARKED.match(first))

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def markdown_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence is None:
            i += 1
            continue
        language, start = fence.group(1), i + 1
        end = start
        while not lines[end].startswith("```"):
            end += 1
        if language in ("python", "py", "pycon"):
            code = "\n".join(lines[start:end]) + "\n"
            first = next((x for x in lines[start:end] if x.strip()), "")
            kind = "doctest" if first.startswith(">>>") else "program"
            blocks.append(Block(path.name, start + 1, kind, code))
        i = end + 1
    return blocks


_DIRECTIVE = re.compile(r"^(\s*)\.\. (testcode|testoutput|doctest|code-block|code|sourcecode)::\s*(\S*)")


def _indented_body(lines: list[str], start: int, indent: int) -> tuple[int, str]:
    """The directive's content: options skipped, dedented; and its first line."""
    i = start
    while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):
        i += 1  # directive options
    body: list[str] = []
    first = None
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        if line.strip() and first is None:
            first = i
        body.append(line)
        i += 1
    assert first is not None, f"empty directive at line {start}"
    return first + 1, textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def rst_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        indent, name, language = len(match.group(1)), match.group(2), match.group(3)
        first, body = _indented_body(lines, number + 1, indent)
        if name == "testoutput":
            where = f"{path.name}:{number + 1}"
            assert blocks, f"{where}: a testoutput must follow a testcode"
            assert blocks[-1].kind == "program", f"{where}: not after a testcode"
            assert blocks[-1].expected is None, f"{where}: a second testoutput"
            blocks[-1].expected = body
        elif name == "testcode":
            blocks.append(Block(path.name, first, "program", body))
        elif name == "doctest":
            blocks.append(Block(path.name, first, "doctest", body))
        elif language in ("python", "py", "python3"):
            kind = "doctest" if body.lstrip().startswith(">>>") else "program"
            blocks.append(Block(path.name, first, kind, body))
        elif language in ("pycon",):
            blocks.append(Block(path.name, first, "doctest", body))
    return blocks


def blocks_of(path: Path) -> list[Block]:
    return markdown_blocks(path) if path.suffix == ".md" else rst_blocks(path)


def chains() -> list[list[Block]]:
    """Each block that stands alone, with the blocks that continue it."""
    found: list[list[Block]] = []
    for path in SOURCES:
        for block in blocks_of(path):
            if block.continues:
                first = f"{block.where} continues nothing: it is its file's first block"
                assert found, first
                assert found[-1][0].source == block.source, first
                found[-1].append(block)
            else:
                found.append([block])
    return found


CHAINS = chains()

# Run in the fresh interpreter: execute the blocks in order, in one namespace.
RUNNER = r"""
import contextlib, doctest, io, json, sys, traceback

blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
for block in blocks:
    if block["kind"] == "doctest":
        test = doctest.DocTestParser().get_doctest(
            block["code"], namespace, block["where"], block["where"].split(":")[0],
            block["line"] - 1)
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test, out=report.write, clear_globs=False)
        namespace.update(test.globs)  # DocTest ran on a copy
        if runner.failures:
            sys.exit(f"doctest failed at {block['where']}:\n{report.getvalue()}")
        continue
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            exec(compile(block["code"], block["where"], "exec"), namespace)
    except BaseException:
        sys.exit(f"{block['where']} raised:\n{traceback.format_exc()}"
                 f"\n(output so far:)\n{captured.getvalue()}")
    expected = block["expected"]
    if expected is not None:
        checker = doctest.OutputChecker()
        if not checker.check_output(expected, captured.getvalue(), flags):
            example = doctest.Example("", expected)
            sys.exit(f"{block['where']}: output differs from its testoutput:\n"
                     + checker.output_difference(example, captured.getvalue(), flags))
"""


def _id(chain: list[Block]) -> str:
    more = f"+{len(chain) - 1}" if len(chain) > 1 else ""
    return chain[0].where + more


@pytest.mark.parametrize("chain", CHAINS, ids=[_id(c) for c in CHAINS])
def test_example_runs_in_a_fresh_interpreter(chain: list[Block], tmp_path: Path) -> None:
    payload = json.dumps([
        {"kind": b.kind, "code": b.code, "expected": b.expected, "where": b.where,
         "line": b.line}
        for b in chain
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER], input=payload, capture_output=True,
        text=True, cwd=tmp_path, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, (
        f"{' + '.join(b.where for b in chain)} does not run as shown "
        f"(start it with '{MARKER}' if it continues the block before):\n"
        f"{done.stderr}{done.stdout}")


def test_every_python_block_is_found() -> None:
    """The extractor misses nothing that a reader would take for Python."""
    prompt = re.compile(r"^\s*>>> ", re.MULTILINE)
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        found = blocks_of(path)
        if path.suffix == ".md":
            shown = re.findall(r"^```(?:python|py|pycon)\s*$", text, re.MULTILINE)
        else:
            shown = re.findall(
                r"^\s*\.\. (?:testcode|doctest)::|^\s*\.\. (?:code-block|code|sourcecode)::"
                r"\s*(?:python|py|python3|pycon)\s*$", text, re.MULTILINE)
        assert len(found) == len(shown), path.name
        # No prompt outside a block that runs (a literal block, a text fence).
        in_blocks = sum(len(prompt.findall(b.code)) for b in found)
        assert len(prompt.findall(text)) == in_blocks, (
            f"{path.name}: a >>> prompt outside a block this test runs")
    assert sum(len(blocks_of(p)) for p in SOURCES) >= 30


def test_marker_is_only_used_at_the_top_of_a_block() -> None:
    for path in SOURCES:
        for block in blocks_of(path):
            lines = block.code.splitlines()
            later = [line for line in lines[1:] if MARKER in line]
            assert not later, f"{block.where}: '{MARKER}' must be the first line"
