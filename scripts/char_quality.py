"""Quality bar for char mode: `wordmore train --level char` with default settings, timed.

usage: python scripts/char_quality.py
Prints validation/test loss and wall time beside makemore's published numbers; writes results/char_quality.json.
Needs $WORDMORE_DATA (or network) for the `names` corpus.
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wordmore.embeddings import fmt_table


def main():
    out = Path(tempfile.mkdtemp()) / "char"
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "wordmore", "train", "--level", "char", "--out", str(out)], check=True)
    wall = time.time() - t0
    s = json.loads((out / "summary.json").read_text())
    rows = [("wordmore default char MLP (this run)", f"{s['val_loss']:.4f}", f"{s['test_loss']:.4f}", f"{wall:.0f}"),
            ("makemore lecture 2 MLP (published)", "2.1701", "-", "-"),
            ("makemore lecture 3 + batch norm (published)", "2.1048", "-", "-"),
            ("makemore WaveNet-style (published)", "1.993", "-", "-"),
            ("makemore transformer (published)", "~1.92", "-", "-")]
    print(fmt_table(rows, ("model", "val loss", "test loss", "wall s")))
    ok = s["val_loss"] <= 2.10 and wall < 300
    print("QUALITY BAR (val <= 2.10 in < 5 min):", "PASS" if ok else "FAIL")
    Path("results").mkdir(exist_ok=True)
    Path("results/char_quality.json").write_text(json.dumps({**s, "wall_seconds": wall, "pass": ok}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
