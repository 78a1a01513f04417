"""The ```python blocks of README.md run, in order, as one program in a fresh directory.

The quickstart writes its own sample file first, so the blocks are self-contained.
"""

from __future__ import annotations

from pathlib import Path

from doc_blocks import extract
from test_docs import run_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_has_a_quickstart() -> None:
    assert [b for b in extract(README) if b.run], "README.md has no runnable ```python block (the quickstart)"


def test_readme_blocks_run(tmp_path: Path) -> None:
    run_markdown(README, tmp_path)
