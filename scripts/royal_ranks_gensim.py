"""Where gensim Word2Vec puts the royals in each other's neighbour lists on one corpus, at several windows: the
ranks (1 = nearest, None = beyond 300) behind a failed royal check.

usage: WORDMORE_DATA=../shared/corpora python scripts/royal_ranks_gensim.py [CORPUS]   (default gutenberg)
"""
import sys
import time
from gensim.models import Word2Vec
from wordmore.baseline import corpus_sentences
from wordmore.embeddings import Embeddings
import os
os.environ.setdefault("WORDMORE_DATA", "/work/shared/corpora")
sents = corpus_sentences(sys.argv[1] if len(sys.argv) > 1 else "gutenberg")
R = ["king", "queen", "prince", "princess"]
for sg, win, ep in [(0, 10, 5), (1, 10, 5), (0, 5, 20)]:
    t0 = time.time()
    m = Word2Vec(sents, vector_size=100, window=win, min_count=5, workers=2, seed=1, sg=sg, epochs=ep)
    e = Embeddings(list(m.wv.index_to_key), m.wv.vectors, lowercase=True)
    ranks = {}
    for w in R:
        nb = [x for x, _ in e.neighbors(w, 300)]
        ranks[w] = {o: (nb.index(o) + 1 if o in nb else None) for o in R if o != w}
    print(f"{'SG' if sg else 'CBOW'} window {win} epochs {ep} ({time.time()-t0:.0f} s):", ranks, flush=True)
