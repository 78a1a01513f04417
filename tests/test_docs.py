"""Every ```python block of docs/*.md runs, file by file, in a fresh directory (DESIGN §7).

The conventions (shared namespace per file, ```output blocks, ``<!-- no-run -->``) are those of
``tests/doc_blocks.py``.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import Block, extract, run

from flowgraph import nodes

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
RUNNER = Path(__file__).resolve().parent / "doc_blocks.py"


def run_markdown(path: Path, cwd: Path) -> None:
    """Run the blocks of ``path`` in a subprocess (warnings are errors) and fail with its report."""
    result = subprocess.run(
        [sys.executable, "-W", "error", str(RUNNER), str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{path.name} failed:\n{result.stderr}\n{result.stdout}"


def test_the_docs_have_code() -> None:
    with_code = [p.name for p in DOCS if extract(p)]
    assert {"concepts.md", "tutorial.md", "writing-nodes.md"} <= set(with_code)


@pytest.mark.parametrize("path", [p for p in DOCS if extract(p)], ids=lambda p: p.name)
def test_doc_blocks_run(path: Path, tmp_path: Path) -> None:
    run_markdown(path, tmp_path)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_run_is_rare(path: Path) -> None:
    blocks = extract(path)
    skipped = [b.line for b in blocks if not b.run]
    assert len(skipped) <= max(1, len(blocks) // 5), f"{path.name}: too many <!-- no-run --> blocks at lines {skipped}"


def test_the_node_catalogue_has_one_section_per_node() -> None:
    """docs/nodes.md has a ``### Name`` section for every node of flowgraph.nodes, and no others."""
    sections = re.findall(r"^### (\S+)\s*$", (ROOT / "docs" / "nodes.md").read_text(encoding="utf-8"), re.MULTILINE)
    missing = sorted(set(nodes.__all__) - set(sections))
    assert not missing, f"docs/nodes.md has no ### section for {missing}"
    unknown = sorted(set(sections) - set(nodes.__all__))
    assert not unknown, f"docs/nodes.md has ### sections for names that are not nodes: {unknown}"
    assert len(sections) == len(set(sections)), "docs/nodes.md has a node section twice"


def test_every_node_has_a_picture_in_the_catalogue() -> None:
    """Every node of flowgraph.nodes shows what it does: an existing image in its section."""
    text = (ROOT / "docs" / "nodes.md").read_text(encoding="utf-8")
    parts = re.split(r"^(?:### |## )(\S+).*$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    for name in nodes.__all__:
        images = re.findall(r"\]\((images/[^)\s]+\.png)\)", sections[name])
        assert images, f"the catalogue section of {name} has no picture"
        assert all((ROOT / "docs" / i).is_file() for i in images), f"{name}: missing image file {images}"


def test_every_catalogue_signature_names_the_parameters_the_node_takes() -> None:
    """Each node's section states its signature, ``Name(a, b=...)``, with the code's parameters in order."""
    text = (ROOT / "docs" / "nodes.md").read_text(encoding="utf-8")
    parts = re.split(r"^### (\S+)\s*$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    for name in nodes.__all__:
        found = re.search(r"`[^`]*?\b" + re.escape(name) + r"\(([^`]*?)\)`", sections[name])
        assert found, f"the catalogue section of {name} states no signature `{name}(...)`"
        # top-level commas only: defaults such as (0, 0) or [...] hold commas of their own
        arguments = re.split(r",(?![^()\[\]]*[)\]])", found.group(1))
        documented = [a.split("=")[0].strip().lstrip("*") for a in arguments if a.strip()]
        parameters = list(inspect.signature(getattr(nodes, name)).parameters)
        assert documented == parameters, f"{name}: the catalogue says {documented}, the code takes {parameters}"


# -- the runner itself ------------------------------------------------------------------------------

SAMPLE = """# Title

```python
x = 2
print(x * 21)
```

```output
42
```

<!-- no-run -->
```python
open("/data/that/does/not/exist.h5")
```

```bash
echo not python
```

```python
print(x + 1)
```
"""


def test_extract_pairs_outputs_and_honours_no_run(tmp_path: Path) -> None:
    path = tmp_path / "sample.md"
    path.write_text(SAMPLE)
    blocks = extract(path)
    assert [(b.line, b.run, b.expected) for b in blocks] == [(4, True, "42\n"), (14, False, None), (22, True, None)]
    assert blocks[0].source == "x = 2\nprint(x * 21)\n"
    run(blocks)  # shares the namespace, skips the no-run block, checks the output


def test_run_reports_a_wrong_output_with_its_line(tmp_path: Path) -> None:
    block = Block(str(tmp_path / "doc.md"), 7, "print('yes')\n", expected="no\n")
    with pytest.raises(AssertionError, match=r"doc.md:7: the block printed\nyes"):
        run([block])


def test_tracebacks_name_the_markdown_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    path.write_text("text\n\n```python\nx = 1\nraise KeyError('boom')\n```\n")
    result = subprocess.run([sys.executable, str(RUNNER), str(path)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert f'File "{path}", line 5' in result.stderr and "KeyError: 'boom'" in result.stderr


def test_an_unclosed_fence_or_stray_output_is_an_error(tmp_path: Path) -> None:
    unclosed = tmp_path / "unclosed.md"
    unclosed.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="never closed"):
        extract(unclosed)
    stray = tmp_path / "stray.md"
    stray.write_text("```python\nx = 1\n```\n\ntext between\n\n```output\n1\n```\n")
    with pytest.raises(ValueError, match="must directly follow a python block"):
        extract(stray)
