"""Encoding throughput and peak memory with 1 and 2 workers, at two corpus sizes (default: fairy, about 5 M
word tokens, and the whole $WORDMORE_DATA folder, about 24 M).

usage: python scripts/encode_bench.py [--reps N] [SPEC ...]
Each run is a fresh process with a fresh cache; 1 and 2 workers alternate, so both see the same load.
Prints a table and writes results/encode_bench.json.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(spec: str, workers: int) -> dict:
    """Encode spec once in this process; measures seconds, tokens and peak RSS of this process and its workers."""
    from wordmore.corpus import prepare
    from wordmore.source import DataConfig
    from wordmore.vocab import TokenizerConfig
    cache = tempfile.mkdtemp(prefix="encode-bench-")
    t0 = time.time()
    corpus = prepare(DataConfig(dataset=spec, min_count=5, max_vocab=100000, workers=workers, cache_dir=cache),
                     TokenizerConfig("word"), log=lambda *a: None)
    dt = time.time() - t0
    n = corpus.meta["raw_tokens"]
    disk = sum((corpus.folder / f"{s}.bin").stat().st_size for s in ("train", "val", "test"))
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux gives KiB)
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    import shutil
    shutil.rmtree(cache, ignore_errors=True)
    return {"tokens": n, "units": corpus.meta["units"], "vocab": len(corpus.vocab), "seconds": dt,
            "tokens_per_s": n / dt, "disk_bytes_per_token": disk / n, "main_rss": main_rss,
            "worker_rss": worker_rss if workers > 1 else 0, "load": os.getloadavg()[0]}


def run(spec: str, workers: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--one", spec, str(workers)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv):
    if argv[1:2] == ["--one"]:
        print(json.dumps(one(argv[2], int(argv[3]))))
        return
    reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv else 2
    rest = [a for i, a in enumerate(argv[1:], 1) if not a.startswith("--") and argv[i - 1] != "--reps"]
    data = os.environ.get("WORDMORE_DATA", "")
    specs = rest or [str(Path(data) / "fairy"), data]
    from wordmore.embeddings import fmt_table
    rows, table = [], []
    for spec in specs:
        runs = {1: [], 2: []}
        for _ in range(reps):
            for w in (1, 2):  # alternate, so the ratio is measured under the same load
                runs[w].append(run(spec, w))
        best = {w: max(r, key=lambda x: x["tokens_per_s"]) for w, r in runs.items()}
        ratios = [b["tokens_per_s"] / a["tokens_per_s"] for a, b in zip(runs[1], runs[2])]
        for w in (1, 2):
            b = best[w]
            peak = b["main_rss"] + w * b["worker_rss"] if w > 1 else b["main_rss"]
            row = dict(corpus=spec, workers=w, tokens=b["tokens"], vocab=b["vocab"],
                       tokens_per_s=round(b["tokens_per_s"]), all_tokens_per_s=[round(r["tokens_per_s"]) for r in runs[w]],
                       seconds=round(b["seconds"], 2), main_rss_mib=round(b["main_rss"] / 2 ** 20),
                       worker_rss_mib=round(b["worker_rss"] / 2 ** 20), peak_rss_mib=round(peak / 2 ** 20),
                       rss_bytes_per_token=round(peak / b["tokens"], 1),
                       disk_bytes_per_token=round(b["disk_bytes_per_token"], 3),
                       load=[round(r["load"], 2) for r in runs[w]],
                       ratio_2_over_1=[round(x, 2) for x in ratios] if w == 2 else None)
            rows.append(row)
            table.append((Path(spec).name or spec, w, f"{row['tokens']:,}", f"{row['tokens_per_s']:,}",
                          row["peak_rss_mib"], row["rss_bytes_per_token"], row["disk_bytes_per_token"],
                          "/".join(map(str, row["load"])), "" if w == 1 else "/".join(map(str, row["ratio_2_over_1"]))))
    print(fmt_table(table, ("corpus", "workers", "tokens", "tokens/s (best)", "peak RSS MiB", "RSS B/token",
                            "disk B/token", "load (1 min)", "2w/1w per pair")))
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "encode_bench.json").write_text(json.dumps(
        {"machine": f"{os.cpu_count()} cores", "uptime_load_after": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main(sys.argv)
