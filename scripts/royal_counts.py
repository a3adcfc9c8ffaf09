"""How often a corpus holds the royals, and how often it holds them together: each word's count, and for each of the
six pairs the times the two stand within 4 words (the preset's window) and within 10 words of each other in one
text unit. The evidence a model has for putting them side by side, whichever model it is.

usage: python scripts/royal_counts.py [CORPUS ...]   (default fairy gutenberg wikipedia; needs $WORDMORE_DATA)
Prints a table; writes results/royal_counts.json.
"""
import json
import sys
from pathlib import Path

from wordmore.baseline import corpus_sentences
from wordmore.embeddings import fmt_table
from wordmore.royal import ROYALS, royal_counts


def main() -> None:
    corpora = sys.argv[1:] or ["fairy", "gutenberg", "wikipedia"]
    out = {c: royal_counts(corpus_sentences(c)) for c in corpora}
    pairs = list(next(iter(out.values()))["together"])
    rows = [[c, *(f"{r['words'][w]:,}" for w in ROYALS), *(" / ".join(map(str, r["together"][p].values())) for p in pairs)]
            for c, r in out.items()]
    print(fmt_table(rows, ("corpus", *ROYALS, *(f"{p} (±4 / ±10)" for p in pairs))))
    Path("results").mkdir(exist_ok=True)
    path = Path("results/royal_counts.json")
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
