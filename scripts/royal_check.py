"""Check the royal result of a word run: are king, queen, prince and princess each other's neighbours?

usage: python scripts/royal_check.py [RUN_DIR]   (default: the newest word run under ./runs)
Prints a table, writes results/royal_check.json, exits 1 when a check fails.
"""
import json
import sys
from pathlib import Path

from wordmore.embeddings import Embeddings, fmt_table
from wordmore.royal import royal_check
from wordmore.runs import default_model


def main(argv):
    run = Path(argv[1]) if len(argv) > 1 else default_model("word")
    emb = Embeddings.load(run)
    r = royal_check(emb)
    table = [(x["word"], ", ".join(f"{o}:{x['ranks'][o] or '-'}" for o in x["ranks"]),
              "yes" if not x["missing_royals"] else "NO", ", ".join(x["top"])) for x in r["rows"]]
    print(f"run: {run}")
    print(fmt_table(table, ("word", "rank of the other royals", "all 3 in top 10", "top 10 (cosine)")))
    print("king - man + woman = " + ", ".join(f"{w} {s:.3f}" for w, s in r["analogy"])
          + ("   [queen first: yes]" if r["queen_first"] else "   [queen first: NO]"))
    print("ROYAL RESULT:", "PASS" if r["pass"] else "FAIL")
    Path("results").mkdir(exist_ok=True)
    (Path("results") / "royal_check.json").write_text(json.dumps({"run": str(run), **r}, indent=1))
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
