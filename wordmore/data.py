"""The data names in one place: settings and sources (source.py), encoded corpora and prepare() (corpus.py),
parallel encoding (encode.py), batches and subsampling (batch.py)."""
from __future__ import annotations

from .batch import Batcher, mask_boundaries, subsample_keep, window_offsets
from .corpus import ENCODING_VERSION, SPLITS, Corpus, encode, encoded_folder, prepare
from .source import DataConfig, Source, cache_root, iter_text, load_catalog, load_texts, resolve, text_units

__all__ = ["Batcher", "mask_boundaries", "subsample_keep", "window_offsets", "ENCODING_VERSION", "SPLITS", "Corpus",
           "encode", "encoded_folder", "prepare", "DataConfig", "Source", "cache_root", "iter_text", "load_catalog",
           "load_texts", "resolve", "text_units"]
