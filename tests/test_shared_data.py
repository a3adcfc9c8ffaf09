"""Tests on the real corpora; they run only when $WORDMORE_DATA points at them (as .ci/run does)."""
import os
from pathlib import Path

import pytest

from wordmore import corpus as K, source as S
from wordmore.evaluate import find_eval_file, read_analogies
from wordmore.vocab import TokenizerConfig

DATA = os.environ.get("WORDMORE_DATA")
pytestmark = pytest.mark.skipif(not DATA or not Path(DATA).is_dir(), reason="WORDMORE_DATA is not set")


def test_names_catalog_is_makemores_32033_names():
    corpus = K.prepare(S.DataConfig(dataset="names"), TokenizerConfig("char"), log=lambda *a: None)
    assert corpus.meta["units"] == 32033 and len(corpus.vocab) == 27
    assert corpus.vocab.itos[0] == "." and corpus.vocab.itos[1:] == list("abcdefghijklmnopqrstuvwxyz")


def test_fairy_catalog_has_the_royals():
    corpus = K.prepare(S.DataConfig(dataset="fairy", min_count=5, max_vocab=30000), TokenizerConfig("word"),
                       log=lambda *a: None)
    v = corpus.vocab
    assert corpus.meta["files"] == 67 and corpus.meta["raw_tokens"] > 5_000_000
    for w in ("king", "queen", "prince", "princess", "man", "woman"):
        assert w in v and v.counts[v.stoi[w]] > 3000
    assert sum(len(corpus.splits[s]) for s in K.SPLITS) == corpus.meta["raw_tokens"] + corpus.meta["units"] + 3


def test_google_analogy_file_is_found_and_parsed():
    p = find_eval_file("questions-words.txt")
    assert p is not None
    sections = read_analogies(p)
    assert len(sections) == 14 and sum(len(q) for _, q in sections) == 19544
