"""The peer on the same text: gensim Word2Vec trained on wordmore's own tokens, and the questions both can answer."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .source import DataConfig, iter_text, load_texts, resolve
from .embeddings import Embeddings
from .errors import WordmoreError
from .evaluate import read_analogies
from .vocab import TokenizerConfig, iter_units


def corpus_sentences(corpus: str) -> list[list[str]]:
    """The corpus through wordmore's datasets path and word tokenizer (its text units, lower-cased)."""
    cfg = DataConfig(dataset=corpus)
    src = resolve(corpus, cfg)
    ds = load_texts(src, cfg, src.sample_by or "paragraph")
    return list(iter_units(iter_text(ds, "text"), TokenizerConfig("word")))


def train_gensim(sents: list[list[str]], sg: bool = False, epochs: int = 5, workers: int = 2,
                 seed: int = 1) -> tuple[Embeddings, float]:
    """gensim Word2Vec (vector 100, window 5, min_count 5) as Embeddings, with its wall seconds."""
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise WordmoreError("gensim is not installed: pip install -e '.[dev]'") from None
    t0 = time.time()
    m = Word2Vec(sents, vector_size=100, window=5, min_count=5, workers=workers, seed=seed, sg=int(sg), epochs=epochs)
    return Embeddings(list(m.wv.index_to_key), m.wv.vectors, lowercase=True), time.time() - t0


def common_questions(path, models: list[Embeddings], top: int = 30000) -> Path:
    """A copy of a Google-format file keeping the questions whose four words are in every model's top words."""
    keep = [set(w.upper() for w in m.words[:top]) for m in models]
    out = Path(tempfile.mkdtemp()) / "questions-common.txt"
    with open(out, "w", encoding="utf-8") as f:
        for name, qs in read_analogies(path):
            f.write(f": {name}\n")
            for _, ws in qs:
                if all(all(w.upper() in k for w in ws) for k in keep):
                    f.write(" ".join(ws) + "\n")
    return out


def scorecard(emb: Embeddings, questions, common, pairs=None, top: int = 30000) -> dict:
    """Every figure of the comparison for one model: Google (on the common questions, with coverage of the
    whole file), WordSim Spearman with coverage, the royal check and the two geometry figures."""
    from .evaluate import evaluate_analogies, evaluate_pairs
    from .royal import royal_check, royal_geometry
    r = evaluate_analogies(emb, common, restrict_vocab=top)
    n_all = sum(len(qs) for _, qs in read_analogies(questions))
    fam = next((s for s in r["sections"] if s.name == "family"), None)
    card = {"google": r["total"].accuracy, "semantic": r["semantic"].accuracy, "syntactic": r["syntactic"].accuracy,
            "family": fam.accuracy if fam and fam.seen else None, "correct": r["total"].correct,
            "seen": r["total"].seen, "coverage": r["total"].seen / max(n_all, 1)}
    if pairs:
        w = evaluate_pairs(emb, pairs, restrict_vocab=top)
        card.update(wordsim=w["spearman"], wordsim_coverage=w["coverage"])
    try:
        card["royal_pass"] = bool(royal_check(emb)["pass"])
    except WordmoreError:  # a royal missing from the vocabulary
        card["royal_pass"] = None
    card.update(royal_geometry(emb))
    return card
