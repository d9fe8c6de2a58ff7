"""The README's walkthrough says every ``console`` block is real output of the installed command:
each ``$ torchcount …`` block is run (as a shell line, so its pipes run too) and must print exactly
what the README shows. After a deliberate change of output, regenerate the blocks with
``.venv/bin/python tests/test_readme.py --write`` and read the diff."""
from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n\$ (torchcount [^\n]*)\n(.*?)```", re.S)


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def run(command: str) -> str:
    """The command's output as a terminal 200 columns wide would show it (stdout, then stderr)."""
    script = shutil.which("torchcount", path=str(Path(sys.executable).parent))
    assert script, "the torchcount console script is not installed in this environment"
    line = script + command[len("torchcount"):]
    # a pipe into `python` (to read the JSON) uses this interpreter
    line = re.sub(r"\|\s*python\b", lambda _: f"| {shlex.quote(sys.executable)}", line)
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(line, shell=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    return (result.stdout + result.stderr).rstrip()


def _unpinned() -> list[str]:
    """The packages of constraints.txt (the tested set the README was made with) installed at another
    version, or not at all: another torch or transformers may run other ops."""
    from importlib.metadata import PackageNotFoundError, version

    differ = []
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, pinned = line.split("#")[0].strip().partition("==")
        if not pinned:
            continue
        try:
            found = version(name)
        except PackageNotFoundError:
            found = "absent"
        if found.split("+")[0] != pinned:
            differ.append(f"{name} {found} (README: {pinned})")
    return differ


# Every block started together (two at a time) when the first test needs one: each costs a
# Python + torch start-up of about 4 s, mostly single-threaded, so two overlap on CI's 2 cores.
_futures: list = []


def output(index: int) -> str:
    if not _futures:
        pool = ThreadPoolExecutor(max_workers=2)
        _futures.extend(pool.submit(run, m.group(1)) for m in blocks(README.read_text()))
        pool.shutdown(wait=False)
    return _futures[index].result()


@pytest.mark.parametrize("index", range(len(blocks(README.read_text()))))
def test_readme_console_block_is_real_output(index):
    if _unpinned():
        pytest.skip(f"not the tested set: {', '.join(_unpinned())}")
    match = blocks(README.read_text())[index]
    command, shown = match.group(1), match.group(2).rstrip()
    got = output(index)
    assert got == shown, f"$ {command}\n" + "".join(difflib.unified_diff(
        shown.splitlines(True), got.splitlines(True), "README", "now"))


def test_the_readme_has_console_blocks():
    assert len(blocks(README.read_text())) >= 8


if __name__ == "__main__":  # --write: replace each block's output by the real one
    text = README.read_text()
    new = text
    for match in blocks(text):
        got = run(match.group(1))
        if got != match.group(2).rstrip():
            print(f"changed: $ {match.group(1)[:100]}")
            if "--write" in sys.argv:
                new = new.replace(match.group(0), f"```console\n$ {match.group(1)}\n{got}\n```")
    if new != text:
        README.write_text(new)
