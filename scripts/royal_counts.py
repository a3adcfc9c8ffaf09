"""How often a corpus holds the royals, and how often it holds them together: each word's count, and for each of the
six pairs the times the two stand within 4 words (the preset's window) and within 10 words of each other in one
text unit. The evidence a model has for putting them side by side, whichever model it is.

usage: python scripts/royal_counts.py [CORPUS ...]   (default fairy gutenberg wikipedia; needs $WORDMORE_DATA)
Prints a table; writes results/royal_counts.json.
"""
import json
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

from wordmore.baseline import corpus_sentences
from wordmore.embeddings import fmt_table
from wordmore.royal import ROYALS

WINDOWS = (4, 10)
PAIRS = list(combinations(ROYALS, 2))


def royal_counts(sents: list[list[str]]) -> dict:
    """Each royal's count, and each pair's co-occurrences within each of WINDOWS words in one unit."""
    words = Counter()
    near = {w: Counter() for w in WINDOWS}
    for s in sents:
        at = [(i, t) for i, t in enumerate(s) if t in ROYALS]
        words.update(t for _, t in at)
        for (i, a), (j, b) in combinations(at, 2):
            for w in WINDOWS:
                if a != b and j - i <= w:
                    near[w][frozenset((a, b))] += 1
    return {"words": {w: words[w] for w in ROYALS},
            "together": {f"{a}-{b}": {f"within {w}": near[w][frozenset((a, b))] for w in WINDOWS} for a, b in PAIRS}}


def main() -> None:
    corpora = sys.argv[1:] or ["fairy", "gutenberg", "wikipedia"]
    out = {c: royal_counts(corpus_sentences(c)) for c in corpora}
    rows = [[c, *(f"{r['words'][w]:,}" for w in ROYALS),
             *(" / ".join(str(n) for n in r["together"][f"{a}-{b}"].values()) for a, b in PAIRS)]
            for c, r in out.items()]
    print(fmt_table(rows, ("corpus", *ROYALS, *(f"{a}-{b} (±{WINDOWS[0]} / ±{WINDOWS[1]})" for a, b in PAIRS))))
    Path("results").mkdir(exist_ok=True)
    path = Path("results/royal_counts.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
