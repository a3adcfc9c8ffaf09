"""The explorer page for a 100,000-word model: its size, the time to write it, and the time until it is ready in
headless chromium (the map's first frame is on screen and the search box answers; cold, also the frame in which every
label has its place), cold (a fresh browser) and warm (the same page again), median of several loads, with the
page's own marks splitting the cold load into phases.
A fresh browser is left --settle seconds to finish starting before the page is opened (0: at once).
--against-full also loads the same page holding plotly.py's full plotly.js instead of the 3-D bundle, alternating
the two load by load, so the ratio is measured on the same host at the same moment.

usage: python scripts/explore_bench.py [--vec BIG.vec] [--top 5000 2000] [--repeats 3] [--settle 1 0] [--against-full]
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
from wordmore.explore import PLOTLY_JS, write_explorer
from wordmore.royal import DEFAULT_WORDS, GENDER_PAIRS, ROYALS

FLAGS = ["--no-sandbox", "--enable-unsafe-swiftshader", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
MARKS = ("wm-start", "wm-plotly", "wm-data", "wm-plot", "wm-ready")  # set by the page, ms after navigation starts
PHASES = {"html": ("", "wm-start"), "plotly.js": ("wm-start", "wm-plotly"), "data": ("wm-plotly", "wm-data"),
          "newPlot": ("wm-data", "wm-plot"), "first frame": ("wm-plot", "wm-ready")}


def big_model(n: int = 100_000, dim: int = 100) -> Embeddings:
    """n random words with the royals and gender pairs among the first, as a 100K-word run would have them."""
    rng = np.random.default_rng(0)
    words = ["<s>", "<unk>", *DEFAULT_WORDS] + [f"w{i}" for i in range(n - 2 - len(DEFAULT_WORDS))]
    return Embeddings(words, rng.normal(size=(n, dim)).astype(np.float32))  # (n, dim)


# the first frame in which every label of the scene has its place (plotly lays them out a frame or more after the map)
LABELS = ("(() => { const e = [...document.querySelectorAll('.annotation-scene')]; "
          "return e.length && e.every(x => x.getBoundingClientRect().width > 0) ? performance.now() : null; })()")


def _marks(pg) -> dict:
    return pg.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")


def load_times(pages: list[Path], repeats: int, settle: float) -> list[tuple[list[dict], list[dict]]]:
    """Marks (ms) of each load of each page, the pages taken in turn: in a fresh browser (cold), then a reload."""
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium")
    out = [([], []) for _ in pages]
    with sync_playwright() as p:
        for _ in range(repeats):
            for page, (cold, warm) in zip(pages, out):
                b = p.chromium.launch(executable_path=chromium, args=FLAGS)
                pg = b.new_page(viewport={"width": 1200, "height": 850})
                pg.wait_for_timeout(settle * 1000)
                for runs in (cold, warm):
                    t0 = time.perf_counter()
                    pg.goto(page.as_uri())
                    pg.wait_for_function("window.__ready === true", timeout=120000)
                    labels = pg.wait_for_function(LABELS, polling="raf", timeout=120000).json_value()
                    runs.append({**_marks(pg), "labels": labels, "wall": (time.perf_counter() - t0) * 1000})
                b.close()
    return out


def bench(emb: Embeddings, top: int, repeats: int, settles, against_full: bool = False) -> list[dict]:
    """One page size: write it, load it (after each settle time), return a row per settle time and bundle."""
    out = Path(tempfile.mkdtemp()) / "explore.html"
    t0 = time.perf_counter()
    write_explorer(emb, out, groups={"royals": list(ROYALS), "gender pairs": [w for w in DEFAULT_WORDS
                                                                            if w not in ROYALS]},
                   pairs=GENDER_PAIRS, top=top)
    write_s = time.perf_counter() - t0
    pages = {"gl3d": out}
    if against_full:  # the same page with the full bundle plotly.py ships
        from plotly.offline import get_plotlyjs
        pages["full"] = out.with_name("explore-full.html")
        pages["full"].write_text(out.read_text(encoding="utf-8").replace(PLOTLY_JS.read_text(encoding="utf-8"),
                                                                         get_plotlyjs()), encoding="utf-8")
    med = lambda runs, m: statistics.median(r.get(m, 0.0) for r in runs)  # noqa: E731
    rows = []
    for settle in settles:
        for (name, page), (cold, warm) in zip(pages.items(), load_times(list(pages.values()), repeats, settle)):
            rows.append({"words": len(emb), "dim": emb.dim, "top": top, "plotly.js": name, "settle_s": settle,
                         "mb": page.stat().st_size / 1e6, "write_s": write_s,
                         "cold_s": med(cold, "wm-ready") / 1000, "warm_s": med(warm, "wm-ready") / 1000,
                         "cold_labels_s": med(cold, "labels") / 1000,
                         "cold_phases_ms": {k: med(cold, b) - (med(cold, a) if a else 0)
                                            for k, (a, b) in PHASES.items()},
                         "load": os.getloadavg()[0], "cold": cold, "warm": warm})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vec", default="", help="a 100K-word vectors file (default: random vectors made here)")
    ap.add_argument("--top", type=int, nargs="+", default=[5000, 2000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settle", type=float, nargs="+", default=[1.0, 0.0],
                    help="seconds a fresh browser gets before the page opens")
    ap.add_argument("--against-full", action="store_true", help="also the page with plotly.py's full plotly.js")
    args = ap.parse_args()
    emb = Embeddings.load(args.vec) if args.vec else big_model()
    rows = [r for top in args.top for r in bench(emb, top, args.repeats, args.settle, args.against_full)]
    print(fmt_table([(f"{r['words']:,} x {r['dim']}", f"{r['top']:,}", r["plotly.js"], f"{r['mb']:.1f}",
                      f"{r['write_s']:.1f}", f"{r['settle_s']:g}",
                      f"{r['cold_s']:.2f}", f"{r['cold_labels_s']:.2f}", f"{r['warm_s']:.2f}",
                      " / ".join(f"{v:.0f}" for v in r["cold_phases_ms"].values()), f"{r['load']:.2f}")
                     for r in rows],
                    ("model", "words in page", "plotly.js", "MB", "write s", "settle s", "ready s (cold)",
                     "labels placed s (cold)", "ready s (warm)",
                     "cold ms: " + " / ".join(PHASES), "load 1 min")))
    Path("results").mkdir(exist_ok=True)
    Path("results/explore_bench.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
