"""PrintProfilingStats: a table of per-node times every N batches."""

from __future__ import annotations

import io

import numpy as np
import pytest

import flowgraph as fg

RAW = fg.ArrayKey("RAW")


def upstream() -> fg.Pipeline:
    data = np.arange(100, dtype=np.uint8).reshape(10, 10)
    source = fg.ArraySource(RAW, fg.Array(data, fg.ArraySpec(roi=fg.Roi((0, 0), (10, 10)), voxel_size=(1, 1))))
    return source + fg.Normalize(RAW) + fg.RandomLocation()


def pipeline(node: fg.PrintProfilingStats) -> fg.Pipeline:
    return upstream() + node


def request() -> fg.BatchRequest:
    r = fg.BatchRequest()
    r.add(RAW, (4, 4))
    return r


def test_prints_a_table_every_n_batches() -> None:
    out = io.StringIO()
    with fg.build(pipeline(fg.PrintProfilingStats(every=2, stream=out))) as p:
        batches = [p.request_batch(request()) for _ in range(5)]
    text = out.getvalue().splitlines()
    headers = [i for i, line in enumerate(text) if line.startswith("PrintProfilingStats: mean over")]
    assert len(headers) == 2  # after batches 2 and 4; batch 5 waits for the next
    assert len(text) == 2 * 6
    assert text[headers[0]] == "PrintProfilingStats: mean over 2 batches"
    rows = text[headers[0] + 2 : headers[1]]
    assert [r.split()[0] for r in rows] == ["ArraySource(RAW)", "Normalize(RAW)", "RandomLocation", "total"]
    assert text[headers[0] + 1].split() == ["node", "prepare", "ms", "process", "ms", "share"]
    assert rows[-1].split()[-1] in ("100.0%", "99.9%", "100.1%")
    # the means printed are the means of the batches' own records
    expected = (
        np.mean([sum(s for n, ph, s in b.profiling if n == "Normalize(RAW)" and ph == "process") for b in batches[:2]])
        * 1e3
    )
    assert float(rows[1].split()[2]) == pytest.approx(expected, abs=1e-3)


def test_prints_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    with fg.build(pipeline(fg.PrintProfilingStats())) as p:
        batch = p.request_batch(request())
    assert capsys.readouterr().out.startswith("PrintProfilingStats: mean over 1 batches\nnode")
    assert batch[RAW].data.shape == (4, 4)


def test_batches_pass_unchanged() -> None:
    r = request()
    r.random_seed = 3
    with fg.build(pipeline(fg.PrintProfilingStats(every=10, stream=io.StringIO()))) as p:
        with_node = p.request_batch(r)[RAW]
    with fg.build(upstream()) as p:
        without = p.request_batch(r)[RAW]
    assert with_node.spec == without.spec
    np.testing.assert_array_equal(with_node.data, without.data)
