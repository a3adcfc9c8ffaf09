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
