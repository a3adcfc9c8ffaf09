"""Query latency after loading, on a 100,000-word vocabulary (random unit vectors, 100 dims).

usage: python scripts/query_bench.py [--words 100000] [--dim 100]
Prints median and worst latency of neighbors / analogy (add, mul) / similarity; writes results/query_bench.json.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from wordmore.embeddings import Embeddings, fmt_table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=100)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(a.words)]
    emb = Embeddings(words, rng.normal(size=(a.words, a.dim)).astype(np.float32))
    qs = {"neighbors -k 10": lambda w: emb.neighbors(w[0], 10),
          "analogy (add) -k 5": lambda w: emb.analogy(w[0], w[1], w[2], 5),
          "analogy (mul) -k 5": lambda w: emb.analogy(w[0], w[1], w[2], 5, method="mul"),
          "similarity": lambda w: emb.similarity(w[0], w[1])}
    rows, out = [], {}
    for name, f in qs.items():
        ts = []
        for _ in range(50):
            w = [words[i] for i in rng.integers(0, a.words, 3)]
            t0 = time.perf_counter()
            f(w)
            ts.append((time.perf_counter() - t0) * 1000)
        out[name] = {"median_ms": statistics.median(ts), "max_ms": max(ts)}
        rows.append((name, f"{statistics.median(ts):.2f}", f"{max(ts):.2f}", "yes" if max(ts) < 50 else "NO"))
    print(f"vocabulary {a.words:,} x {a.dim}")
    print(fmt_table(rows, ("query", "median ms", "max ms", "< 50 ms")))
    Path("results").mkdir(exist_ok=True)
    Path("results/query_bench.json").write_text(json.dumps({"words": a.words, "dim": a.dim, **out}, indent=1))


if __name__ == "__main__":
    main()
