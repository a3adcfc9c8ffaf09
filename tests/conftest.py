"""Shared fixtures: offline hub, a private cache, tiny corpora written by the tests themselves."""
import os
import random
import signal

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# the signal tests need the usual dispositions, also when the suite itself runs under nohup or in a background
# job (which start it with SIGHUP or SIGINT ignored); the processes the tests start inherit these
signal.signal(signal.SIGHUP, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Every test, and every module-scoped fixture (they start before function-scoped ones), encodes into a cache
    under pytest's temporary folder, never into the user's ~/.cache/wordmore."""
    root = tmp_path_factory.getbasetemp() / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORDMORE_CACHE", str(root))
        mp.setenv("HF_DATASETS_CACHE", str(root / "hf"))
        yield root


@pytest.fixture
def names_file(tmp_path):
    """~400 made-up names, one per line."""
    rng = random.Random(0)
    syl = ["an", "el", "ma", "ri", "jo", "li", "sa", "na", "ka", "to", "be", "la", "mi", "ro", "da"]
    names = sorted({"".join(rng.choice(syl) for _ in range(rng.randint(1, 3))) + rng.choice(["", "a", "n", "y"])
                    for _ in range(600)})
    p = tmp_path / "names.txt"
    p.write_text("\n".join(names) + "\n")
    return p


ROYAL_TEMPLATES = [
    "the {k} spoke to the {q} in the castle", "the {q} smiled at the {k} and the court",
    "the {p} rode out with the {pp} at dawn", "the {pp} danced with the {p} at the ball",
    "a {m} and a {w} walked to the village", "the {w} gave bread to the {m}",
    "the old {k} had a son , the young {p}", "the old {q} had a daughter , the young {pp}",
]


@pytest.fixture
def words_file(tmp_path):
    """A small English-like corpus, paragraphs separated by blank lines."""
    rng = random.Random(1)
    paras = []
    for _ in range(300):
        sents = [rng.choice(ROYAL_TEMPLATES).format(k="king", q="queen", p="prince", pp="princess",
                                                   m="man", w="woman") for _ in range(rng.randint(2, 5))]
        paras.append(" . ".join(sents) + " .")
    p = tmp_path / "tales.txt"
    p.write_text("\n\n".join(paras) + "\n")
    return p


@pytest.fixture
def encoded_corpus(tmp_path):
    """An encoded word corpus folder made by hand (no `datasets`): what a GPU machine is shipped."""
    import json
    from collections import Counter

    import numpy as np

    from wordmore.corpus import ENCODING_VERSION
    from wordmore.vocab import TokenizerConfig, Vocab
    rng = random.Random(2)
    units = [" . ".join(rng.choice(ROYAL_TEMPLATES).format(k="king", q="queen", p="prince", pp="princess",
                                                          m="man", w="woman") for _ in range(3)).split()
             for _ in range(600)]
    tok = TokenizerConfig("word")
    vocab = Vocab.build(Counter(w for u in units for w in u), tok, n_units=len(units), min_count=1)
    folder = tmp_path / "encoded"
    folder.mkdir()
    counts = {}
    for name, part in (("train", units[:500]), ("val", units[500:550]), ("test", units[550:])):
        ids = [vocab.boundary_id]
        for u in part:
            ids += vocab.encode(u) + [vocab.boundary_id]
        np.asarray(ids, dtype=np.uint16).tofile(folder / f"{name}.bin")
        counts[name] = len(ids)
    vocab.save(folder / "vocab.json")
    (folder / "meta.json").write_text(json.dumps({"version": ENCODING_VERSION, "tokens": counts, "dtype": "uint16",
                                                  "units": len(units), "source": "hand-made"}))
    return folder
