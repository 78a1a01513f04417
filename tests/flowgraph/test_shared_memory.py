"""Batches through POSIX shared memory: one copy, no segment left behind."""

from __future__ import annotations

import mmap
import os
import pickle
import secrets

import numpy as np
import pytest

import flowgraph as fg
from flowgraph.parallel import shared_memory

RAW = fg.ArrayKey("RAW")
LABELS = fg.ArrayKey("LABELS")
FLAGS = fg.ArrayKey("FLAGS")
POINTS = fg.GraphKey("POINTS")


def prefix() -> str:
    return f"fgtest{os.getpid()}_{secrets.token_hex(3)}_"


def big_batch() -> fg.Batch:
    roi = fg.Roi((0, 0, 0), (8, 40, 40))
    raw = np.random.default_rng(0).random((3, 8, 40, 40), dtype=np.float32)  # a channel axis
    labels = (np.arange(8 * 40 * 40, dtype=np.uint64) + np.uint64(2**40)).reshape(8, 40, 40)
    batch = fg.Batch(
        {
            RAW: fg.Array(raw, fg.ArraySpec(roi=roi, voxel_size=(1, 1, 1), interpolatable=True)),
            LABELS: fg.Array(labels[:, ::2, ::2].copy(), fg.ArraySpec(roi=roi, voxel_size=(1, 2, 2))),
            FLAGS: fg.Array(np.array([True, False]), fg.ArraySpec(nonspatial=True)),
            POINTS: fg.Graph([4, 2], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], fg.GraphSpec(roi=roi), edges=[[4, 2]]),
        }
    )
    batch.profiling = [("Source", "process", 0.5)]
    return batch


def test_a_packed_batch_is_small_and_unpacks_to_the_same_batch_without_a_copy() -> None:
    name = prefix() + "0"
    original = big_batch()
    packed = shared_memory.pack_batch(original, name)
    assert packed.segment == name and shared_memory.leftovers(name) == [name]
    assert len(pickle.dumps(packed)) < 4096  # metadata only
    batch = shared_memory.unpack_batch(pickle.loads(pickle.dumps(packed)))
    assert shared_memory.leftovers(name) == []  # unlinked as soon as it is mapped
    assert set(batch) == set(original)
    for key in (RAW, LABELS, FLAGS):
        a, b = original[key], batch[key]
        assert b.spec == a.spec and b.data.dtype == a.data.dtype
        np.testing.assert_array_equal(b.data, a.data)
    assert isinstance(batch[RAW].data.base, mmap.mmap)
    assert batch[RAW].data.flags.writeable
    np.testing.assert_array_equal(batch[POINTS].ids, [4, 2])
    np.testing.assert_array_equal(batch[POINTS].edges, [[4, 2]])
    assert batch.profiling == original.profiling


def test_small_batches_travel_inline() -> None:
    spec = fg.ArraySpec(roi=fg.Roi((0,), (4,)), voxel_size=(1,))
    packed = shared_memory.pack_batch(fg.Batch({RAW: fg.Array(np.arange(4.0), spec)}), prefix() + "1")
    assert packed.segment is None
    np.testing.assert_array_equal(shared_memory.unpack_batch(packed)[RAW].data, [0, 1, 2, 3])


def test_discard_and_sweep_remove_segments() -> None:
    p = prefix()
    kept = shared_memory.pack_batch(big_batch(), p + "a")
    shared_memory.discard(kept)
    assert shared_memory.leftovers(p) == []
    for suffix in ("b", "c"):
        shared_memory.pack_batch(big_batch(), p + suffix)
    assert shared_memory.leftovers(p) == [p + "b", p + "c"]
    assert shared_memory.sweep(p) == [p + "b", p + "c"]
    assert shared_memory.leftovers(p) == []
    assert shared_memory.unlink(p + "b") is False


def test_a_name_in_use_is_refused_and_nothing_leaks() -> None:
    name = prefix() + "x"
    first = shared_memory.pack_batch(big_batch(), name)
    with pytest.raises(FileExistsError):
        shared_memory.pack_batch(big_batch(), name)
    assert shared_memory.leftovers(name) == [name]
    shared_memory.discard(first)
    assert shared_memory.leftovers(name) == []


def test_reused_segments_are_freed_only_when_no_array_sees_them() -> None:
    freed: list[str] = []
    p = prefix()
    writer = shared_memory.SegmentWriter(p, keep_free=1)
    reader = shared_memory.SegmentReader(freed.append)
    original = big_batch()
    packed = writer.pack(original)
    assert packed.reused and packed.segment == p + "0" and packed.size % (1 << 20) == 0
    batch = reader.unpack(pickle.loads(pickle.dumps(packed)))
    np.testing.assert_array_equal(batch[RAW].data, original[RAW].data)
    np.testing.assert_array_equal(batch[LABELS].data, original[LABELS].data)
    assert batch[POINTS].ids.tolist() == [4, 2] and batch[FLAGS].data.tolist() == [True, False]
    view = batch[RAW].data[1, 2:4].T  # a view outlives the batch
    del batch
    assert freed == []
    del view
    assert freed == [p + "0"]
    writer.release(p + "0")
    again = writer.pack(original)
    assert again.segment == p + "0"  # reused, not a new segment
    assert shared_memory.leftovers(p) == [p + "0"]
    writer.close()
    assert shared_memory.leftovers(p) == []
    reader.close()


def test_a_writer_keeps_only_so_many_free_segments_and_says_which_it_dropped() -> None:
    p = prefix()
    writer = shared_memory.SegmentWriter(p, keep_free=1)
    reader = shared_memory.SegmentReader(lambda name: None)
    first, second = writer.pack(big_batch()), writer.pack(big_batch())
    assert (first.segment, second.segment) == (p + "0", p + "1")
    for packed in (first, second):
        reader.unpack(packed)
    writer.release(p + "0")
    writer.release(p + "1")  # two free, one kept
    assert len(shared_memory.leftovers(p)) == 1
    third = writer.pack(big_batch())
    assert len(third.retired) == 1 and third.segment not in third.retired
    assert reader.mapped() == [p + "0", p + "1"]
    reader.unpack(third)
    assert reader.mapped() == [third.segment]  # the retired one is unmapped
    writer.close()
    reader.close()
    assert shared_memory.leftovers(p) == []
