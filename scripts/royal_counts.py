"""How often a corpus holds the royals, and how often it holds them together: each word's count, and for each of the
six pairs the times the two stand within 4 words (the preset's window) and within 10 words of each other in one
text unit. The evidence a model has for putting them side by side, whichever model it is.

usage: python scripts/royal_counts.py [CORPUS ...] [--out JSON]   (default fairy gutenberg wikipedia; needs
$WORDMORE_DATA for catalog names). Prints a table; writes results/royal_counts.json.
"""
import argparse
import json
from pathlib import Path

from wordmore.baseline import corpus_sentences
from wordmore.embeddings import fmt_table
from wordmore.royal import ROYALS, royal_counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpora", nargs="*", default=["fairy", "gutenberg", "wikipedia"])
    ap.add_argument("--out", default="results/royal_counts.json")
    args = ap.parse_args()
    out = {c: royal_counts(corpus_sentences(c)) for c in args.corpora}
    together = next(iter(out.values()))["together"]
    within = " / ".join("±" + k.split()[-1] for k in next(iter(together.values())))
    rows = [[c, *(f"{r['words'][w]:,}" for w in ROYALS), *(" / ".join(map(str, d.values())) for d in r["together"].values())]
            for c, r in out.items()]
    print(fmt_table(rows, ("corpus", *ROYALS, *(f"{p} ({within})" for p in together))))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
