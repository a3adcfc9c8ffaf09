"""The explorer page for a 100,000-word model: its size, the time to write it, and the time until it is ready in
headless chromium (cold: a fresh browser; warm: the same page again), median of several loads.

usage: python scripts/explore_bench.py [--vec BIG.vec] [--top 5000] [--repeats 3]
Needs plotly, playwright and Debian's chromium. Prints a table; writes results/explore_bench.json.
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from wordmore.embeddings import Embeddings, fmt_table
from wordmore.explore import write_explorer
from wordmore.royal import DEFAULT_WORDS, GENDER_PAIRS, ROYALS

FLAGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def big_model(n: int = 100_000, dim: int = 100) -> Embeddings:
    """n random words with the royals and gender pairs among the first, as a 100K-word run would have them."""
    rng = np.random.default_rng(0)
    words = ["<s>", "<unk>", *DEFAULT_WORDS] + [f"w{i}" for i in range(n - 2 - len(DEFAULT_WORDS))]
    return Embeddings(words, rng.normal(size=(n, dim)).astype(np.float32))  # (n, dim)


def load_seconds(page: Path, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds from goto to window.__ready: each in a fresh browser (cold), then a reload in the same (warm)."""
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium")
    cold, warm = [], []
    with sync_playwright() as p:
        for _ in range(repeats):
            b = p.chromium.launch(executable_path=chromium, args=FLAGS)
            pg = b.new_page()
            for times in (cold, warm):
                t0 = time.perf_counter()
                pg.goto(page.as_uri())
                pg.wait_for_function("window.__ready === true", timeout=120000)
                times.append(time.perf_counter() - t0)
            b.close()
    return cold, warm


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vec", default="", help="a 100K-word vectors file (default: random vectors made here)")
    ap.add_argument("--top", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    emb = Embeddings.load(args.vec) if args.vec else big_model()
    out = Path(tempfile.mkdtemp()) / "explore.html"
    t0 = time.perf_counter()
    write_explorer(emb, out, groups={"royals": list(ROYALS), "gender pairs": [w for w in DEFAULT_WORDS
                                                                            if w not in ROYALS]},
                   pairs=GENDER_PAIRS, top=args.top)
    write_s = time.perf_counter() - t0
    cold, warm = load_seconds(out, args.repeats)
    row = {"words": len(emb), "top": args.top, "mb": out.stat().st_size / 1e6, "write_s": write_s,
           "cold_s": statistics.median(cold), "warm_s": statistics.median(warm), "load": os.getloadavg()[0]}
    print(fmt_table([(f"{row['words']:,} x {emb.dim}", f"{row['top']:,}", f"{row['mb']:.1f}", f"{write_s:.1f}",
                      f"{row['cold_s']:.2f}", f"{row['warm_s']:.2f}", f"{row['load']:.2f}")],
                    ("model", "words in page", "MB", "write s", "ready s (cold)", "ready s (warm)", "load 1 min")))
    Path("results").mkdir(exist_ok=True)
    Path("results/explore_bench.json").write_text(json.dumps({**row, "cold": cold, "warm": warm}, indent=1))


if __name__ == "__main__":
    main()
