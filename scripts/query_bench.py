"""End-to-end query timings as a new user sees them (subprocesses, median of several runs), and query latency.

usage: python scripts/query_bench.py [--run RUN_DIR] [--vec BIG.vec] [--repeats 5]
Times `python -m wordmore --help`, `python -m wordmore neighbors king -m RUN`, the same query through the
torch-free modules alone (what a lazy-import CLI costs), and loading a 100,000 x 100 .vec (parsed once, then
from its .npy sidecar, and with --limit); then in-process latency of each query on that vocabulary.
Prints a table with the machine's load average; writes results/query_bench.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from wordmore.embeddings import Embeddings, fmt_table

LOAD = "from wordmore.embeddings import Embeddings; Embeddings.load({path!r}{limit})"
LIBRARY_QUERY = ("from wordmore.embeddings import Embeddings; from wordmore.query import answer, build_query, "
                 "model_line, to_text; e = Embeddings.load({path!r}); print(model_line(e)); "
                 "print(to_text(answer(e, build_query(['king'], k=10))))")
PYTHONPATH = [str(ROOT)]
TARGETS = {"wordmore --help": 0.5, "wordmore neighbors king": 1.0, "library neighbors king": 1.0,
           "load 100K x 100 .vec (sidecar)": 1.0}


def timed(cmd: list[str], repeats: int) -> dict:
    """Median and spread of wall times of a subprocess (PYTHONPATH = this checkout or --pythonpath)."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH[0]}
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        ts.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()[-300:]}")
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "runs": repeats,
            "first_line": r.stdout.splitlines()[0] if r.stdout else ""}


def big_vec(path: Path, words: int, dim: int) -> Path:
    """A words x dim word2vec text file of random vectors (made once)."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    V = rng.normal(size=(words, dim)).astype(np.float32)
    with open(path, "w") as f:
        f.write(f"{words} {dim}\n")
        for i in range(words):
            f.write(f"w{i} " + " ".join("%.9g" % x for x in V[i]) + "\n")
    return path


def end_to_end(run: Path, vec: Path, repeats: int) -> dict:
    """Subprocess timings."""
    py = sys.executable
    for side in (vec.with_name(vec.name + ".npy"), vec.with_name(vec.name + ".keys.json")):
        side.unlink(missing_ok=True)
    out = {"python -c pass": timed([py, "-c", "pass"], repeats),
           "wordmore --help": timed([py, "-m", "wordmore", "--help"], repeats),
           "wordmore neighbors king": timed([py, "-m", "wordmore", "neighbors", "king", "-m", str(run)], repeats),
           "library neighbors king": timed([py, "-c", LIBRARY_QUERY.format(path=str(run))], repeats),
           "load 100K x 100 .vec (parse, writes sidecar)": timed([py, "-c", LOAD.format(path=str(vec), limit="")], 1)}
    out["load 100K x 100 .vec (sidecar)"] = timed([py, "-c", LOAD.format(path=str(vec), limit="")], repeats)
    for side in (vec.with_name(vec.name + ".npy"), vec.with_name(vec.name + ".keys.json")):
        side.unlink(missing_ok=True)
    out["load 100K x 100 .vec --limit 30000 (parse)"] = timed(
        [py, "-c", LOAD.format(path=str(vec), limit=", limit=30000")], repeats)
    return out


def latency(emb: Embeddings, rng) -> dict:
    """In-process query latency after loading (ms)."""
    qs = {"neighbors -k 10": lambda w: emb.neighbors(w[0], 10),
          "analogy (add) -k 5": lambda w: emb.analogy(w[0], w[1], w[2], 5),
          "analogy (mul) -k 5": lambda w: emb.analogy(w[0], w[1], w[2], 5, method="mul"),
          "similarity": lambda w: emb.similarity(w[0], w[1])}
    out = {}
    for name, f in qs.items():
        ts = []
        for _ in range(30):
            w = [emb.words[i] for i in rng.integers(0, len(emb), 3)]
            t0 = time.perf_counter()
            f(w)
            ts.append((time.perf_counter() - t0) * 1000)
        out[name] = {"median_ms": statistics.median(ts), "max_ms": max(ts)}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="", help="word run directory (default: newest under ./runs)")
    ap.add_argument("--vec", default="/tmp/wordmore-bench-100k.vec", help="100K x 100 file (made if missing)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pythonpath", default=str(ROOT), help="the wordmore checkout the subprocesses run")
    ap.add_argument("--out", default=str(ROOT / "results" / "query_bench.json"))
    a = ap.parse_args()
    PYTHONPATH[0] = a.pythonpath
    from wordmore.runs import model_path
    run = model_path(a.run)
    vec = big_vec(Path(a.vec), 100000, 100)
    load_before = os.getloadavg()
    e2e = end_to_end(run, vec, a.repeats)
    lat = latency(Embeddings.load(vec), np.random.default_rng(0))
    load_after = os.getloadavg()
    rows = [(k, f"{v['median_s']:.3f}", f"{v['min_s']:.3f}", f"{v['max_s']:.3f}", v["runs"],
             f"< {TARGETS[k]}: {'yes' if v['median_s'] < TARGETS[k] else 'NO'}" if k in TARGETS else "")
            for k, v in e2e.items()]
    print(f"wordmore from {a.pythonpath}; run {run}; {os.cpu_count()} cores; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(fmt_table(rows, ("subprocess", "median s", "min s", "max s", "runs", "target")))
    print(fmt_table([(k, f"{v['median_ms']:.2f}", f"{v['max_ms']:.2f}") for k, v in lat.items()],
                    ("query on 100K x 100, in process", "median ms", "max ms")))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(
        {"pythonpath": a.pythonpath, "run": str(run), "cores": os.cpu_count(), "loadavg_before": load_before,
         "loadavg_after": load_after, "subprocess": e2e, "latency_100k": lat}, indent=1))


if __name__ == "__main__":
    main()
