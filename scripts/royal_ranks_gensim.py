"""Where gensim Word2Vec puts the royals in each other's neighbour lists on one corpus, at several windows: the
ranks (1 = nearest, - = beyond 300) behind a failed royal check.

usage: python scripts/royal_ranks_gensim.py [CORPUS]   (default gutenberg; needs gensim and $WORDMORE_DATA)
Prints a table; writes results/royal_ranks_<corpus>.json.
"""
import json
import sys
import time
from pathlib import Path

from gensim.models import Word2Vec

from wordmore.baseline import corpus_sentences
from wordmore.embeddings import Embeddings, fmt_table
from wordmore.royal import ROYALS

MODELS = [("CBOW-5, window 10", 0, 10, 5), ("SG-5, window 10", 1, 10, 5), ("CBOW-20, window 5", 0, 5, 20)]


def main() -> None:
    corpus = sys.argv[1] if len(sys.argv) > 1 else "gutenberg"
    sents = corpus_sentences(corpus)
    pairs = [(w, o) for w in ROYALS for o in ROYALS if o != w]
    rows, out = [], []
    for name, sg, window, epochs in MODELS:
        t0 = time.time()
        m = Word2Vec(sents, vector_size=100, window=window, min_count=5, workers=2, seed=1, sg=sg, epochs=epochs)
        emb = Embeddings(list(m.wv.index_to_key), m.wv.vectors, lowercase=True)
        lists = {w: [x for x, _ in emb.neighbors(w, 300)] for w in ROYALS}
        ranks = {f"{o} in {w}'s": (lists[w].index(o) + 1 if o in lists[w] else None) for w, o in pairs}
        out.append({"model": name, "seconds": round(time.time() - t0, 1), "ranks": ranks})
        rows.append([name, *("-" if r is None else str(r) for r in ranks.values())])
    print(fmt_table(rows, ("model", *(f"{o} in {w}'s" for w, o in pairs))))
    path = Path("results") / f"royal_ranks_{Path(corpus).name}.json"
    path.write_text(json.dumps({"corpus": corpus, "rows": out}, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
