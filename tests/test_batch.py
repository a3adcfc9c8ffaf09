"""Batches: subsampling that would accept almost nothing is refused at once."""
import time

import numpy as np
import pytest
import torch

from wordmore.batch import Batcher, subsample_keep
from wordmore.errors import WordmoreError


def test_a_tiny_subsample_threshold_is_a_clear_error_not_a_spin():
    stream = np.tile(np.arange(10, dtype=np.uint16), 1000)
    keep = subsample_keep(np.full(10, 1000), 1e-30)
    t0 = time.time()
    with pytest.raises(WordmoreError, match="--subsample keeps about"):
        Batcher(stream, 0, 2, "left", keep_prob=keep)
    assert time.time() - t0 < 5
    b = Batcher(stream, 0, 2, "left", keep_prob=subsample_keep(np.full(10, 1000), 1e-3))
    assert b.sample(64, torch.Generator().manual_seed(0))[1].shape == (64,)


def test_ids_keep_the_corpus_width_and_read_back_unsigned():
    import torch
    from wordmore.batch import as_ids, device_ids
    ids = np.array([0, 1, 32767, 32768, 65535], dtype=np.uint16)
    t = device_ids(ids, "cpu")  # what a GPU batcher holds: 2 bytes a token
    assert t.dtype == torch.int16 and t.element_size() == 2
    assert as_ids(t).tolist() == [0, 1, 32767, 32768, 65535]
    wide = device_ids(np.array([7, 70000], dtype=np.uint32), "cpu")
    assert wide.dtype == torch.int32 and as_ids(wide).tolist() == [7, 70000]


def test_thinning_buffers_are_seven_bytes_a_token():
    from wordmore.batch import Batcher
    stream = np.random.default_rng(0).integers(1, 50, 10000).astype(np.uint16)
    b = Batcher(stream, 0, 2, "both")
    assert b.held_bytes() == 0  # the stream stays memory-mapped on the CPU
    b.thin(np.full(50, 0.5, dtype=np.float32), seed=1)
    assert b.held_bytes() == 7 * len(stream)  # thinned text (uint16) + landing position (int32) + kept flag
