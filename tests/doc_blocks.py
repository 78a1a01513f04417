"""Run the ```python blocks of a Markdown file, in order, as one program.

Conventions (docs/index.md repeats them for writers):

- Every fenced block whose info string is ``python`` runs; the blocks of one file share one
  namespace, so later blocks may use what earlier ones defined.
- A fenced block with the info string ``output`` directly after a python block (only blank lines
  between) is that block's expected standard output; it is compared exactly (trailing
  whitespace ignored).
- A python block whose preceding line is ``<!-- no-run -->`` is shown but not run. Use it only
  for code that needs data that cannot exist in a test.

Used by tests/test_docs.py and tests/test_readme.py; run as a script
(``python tests/doc_blocks.py FILE.md``) it executes FILE.md's blocks in the current directory and
exits non-zero with a readable report on the first failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
import traceback
import types
from pathlib import Path

NO_RUN = "<!-- no-run -->"


@dataclasses.dataclass
class Block:
    """A python code block: where it starts, its code, its expected output, whether it runs."""

    path: str
    line: int  # 1-based line number of the first line of code
    source: str
    expected: str | None = None
    run: bool = True


def _fence(line: str) -> str | None:
    """The info string if ``line`` opens or closes a fence at column 0, else None."""
    if line.startswith("```"):
        return line[3:].strip()
    return None


def extract(path: str | Path) -> list[Block]:
    """The python blocks of the Markdown file ``path``, with their expected outputs."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    previous = ""  # the last non-blank line outside a fence
    while i < len(lines):
        info = _fence(lines[i])
        if info is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and _fence(lines[end]) != "":
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{i + 1}: the code fence opened here is never closed.")
        body = "\n".join(lines[start:end]) + "\n"
        if info == "python":
            blocks.append(Block(str(path), start + 1, body, run=previous != NO_RUN))
        elif info == "output":
            if not blocks or not _adjacent(lines, blocks[-1], i):
                raise ValueError(f"{path}:{i + 1}: an output block must directly follow a python block.")
            blocks[-1].expected = body
        previous = ""
        i = end + 1
    return blocks


def _adjacent(lines: list[str], block: Block, fence_index: int) -> bool:
    """True if only blank lines separate the end of ``block`` from the fence at ``fence_index``."""
    closing = block.line - 1 + block.source.count("\n")  # index of the closing fence of ``block``
    return all(not line.strip() for line in lines[closing + 1 : fence_index])


def _normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def run(blocks: list[Block], namespace: dict | None = None) -> None:
    """Execute ``blocks`` in order in ``namespace``; raise AssertionError on an output mismatch.

    Exceptions raised by a block propagate; their tracebacks name the Markdown file and line.
    """
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    for block in blocks:
        if not block.run:
            continue
        code = compile("\n" * (block.line - 1) + block.source, block.path, "exec")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        if block.expected is not None and _normalized(out.getvalue()) != _normalized(block.expected):
            raise AssertionError(
                f"{block.path}:{block.line}: the block printed\n{out.getvalue()}\n"
                f"but its output block says\n{block.expected}"
            )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/doc_blocks.py FILE.md", file=sys.stderr)
        return 2
    # run as a script, this file's directory (tests/) heads sys.path, where the folders
    # tests/flowgraph and tests/nodes would shadow the installed packages: drop it
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    # the blocks run in a fresh module registered as __main__: nothing of this file leaks into
    # them, and classes they define can be pickled (e.g. by worker processes)
    module = types.ModuleType("__main__")
    module.__file__ = str(Path(argv[0]).resolve())
    sys.modules["__main__"] = module
    try:
        run(extract(argv[0]), vars(module))
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
