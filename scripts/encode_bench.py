"""Encoding throughput and peak memory with 1 and 2 workers, at two corpus sizes (default: fairy, about 5 M
word tokens, and the whole $WORDMORE_DATA folder, about 24 M).

usage: python scripts/encode_bench.py [--reps N] [SPEC ...]
Each run is a fresh process with a fresh cache; 1 and 2 workers alternate, so both see the same load.
Prints a table and writes results/encode_bench.json and results/encode_bench.md. CPU seconds are split into
the main process's (with one worker: all of it) and the workers'; the load is the 1-minute load average at the
end of each run, "others' cores" the CPU every other process on the machine used during it (on average), and
"probe 2p/1p" what two cores gave a fixed pure-Python loop before each pair (a host sharing its cores gives < 2).
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
    t0, c0 = time.time(), os.times()
    corpus = prepare(DataConfig(dataset=spec, min_count=5, max_vocab=100000, workers=workers, cache_dir=cache),
                     TokenizerConfig("word"), log=lambda *a: None)
    dt, c1 = time.time() - t0, os.times()
    n = corpus.meta["raw_tokens"]
    disk = sum((corpus.folder / f"{s}.bin").stat().st_size for s in ("train", "val", "test"))
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # bytes (Linux gives KiB)
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    import shutil
    shutil.rmtree(cache, ignore_errors=True)
    return {"tokens": n, "units": corpus.meta["units"], "vocab": len(corpus.vocab), "seconds": dt,
            "tokens_per_s": n / dt, "disk_bytes_per_token": disk / n, "main_rss": main_rss,
            "worker_rss": worker_rss if workers > 1 else 0, "load": os.getloadavg()[0],
            "cpu_main": c1.user + c1.system - c0.user - c0.system,
            "cpu_workers": c1.children_user + c1.children_system - c0.children_user - c0.children_system}


def _busy() -> float:
    """CPU seconds the whole machine has been busy, steal included (/proc/stat; 0 where there is none)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


_PROBE = "import time\nt = time.perf_counter()\nd = {}\nfor i in range(2_000_000):\n    d[i & 65535] = i\n" \
         "print(time.perf_counter() - t)"


def probe() -> float:
    """What two cores give right now: a fixed pure-Python loop alone, then in 2 processes at once (2 x alone / slower
    of the two; 2.0 when both cores are free and whole, less when the host shares them)."""
    def start():
        return subprocess.Popen([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE, text=True)
    alone = float(start().communicate()[0])
    two = [start(), start()]
    return 2 * alone / max(float(p.communicate()[0]) for p in two)


def run(spec: str, workers: int) -> dict:
    """One run in a fresh process; adds the cores other processes kept busy meanwhile (average)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    b0, r0, t0 = _busy(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    out = subprocess.run([sys.executable, __file__, "--one", spec, str(workers)], env=env, check=True,
                         capture_output=True, text=True).stdout
    b1, r1, t1 = _busy(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    own = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime  # the run, its workers included
    return dict(json.loads(out.strip().splitlines()[-1]), others=max(0.0, b1 - b0 - own) / (t1 - t0))


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
        runs, probes = {1: [], 2: []}, []
        for _ in range(reps):
            probes.append(round(probe(), 2))
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
                       load=[round(r["load"], 2) for r in runs[w]], cpu_main_s=round(b["cpu_main"], 2),
                       others_cores=[round(r["others"], 2) for r in runs[w]],
                       cpu_workers_s=round(b["cpu_workers"], 2),
                       ratio_2_over_1=[round(x, 2) for x in ratios] if w == 2 else None,
                       probe_2_over_1=probes if w == 2 else None)
            rows.append(row)
            table.append((Path(spec).name or spec, w, f"{row['tokens']:,}", f"{row['tokens_per_s']:,}",
                          "" if w == 1 else " / ".join(map(str, row["ratio_2_over_1"])),
                          "" if w == 1 else " / ".join(map(str, probes)), row["seconds"],
                          f"{row['cpu_main_s']} + {row['cpu_workers_s']}", row["peak_rss_mib"],
                          row["rss_bytes_per_token"], row["disk_bytes_per_token"],
                          " / ".join(map(str, row["load"])), " / ".join(map(str, row["others_cores"]))))
    head = ("corpus", "workers", "tokens", "tokens/s (best)", "2w/1w per pair", "probe 2p/1p", "s (best)",
            "CPU s main + workers",
            "peak RSS MiB", "RSS B/token", "disk B/token", "load (1 min)", "others' cores")
    print(fmt_table(table, head))
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "encode_bench.json").write_text(json.dumps(
        {"machine": f"{os.cpu_count()} cores", "uptime_load_after": os.getloadavg(), "rows": rows}, indent=1))
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
         ["| " + " | ".join(str(c) for c in r) + " |" for r in table]
    (ROOT / "results" / "encode_bench.md").write_text(
        f"### Encoding: `python scripts/encode_bench.py --reps {reps} {' '.join(specs)}`\n\n"
        f"{os.cpu_count()} cores; tokens/s and seconds are the best of {reps}, the ratio per pair (1 and 2 workers "
        f"alternating); peak RSS with 2 workers adds each worker's peak to the main process's (an upper bound: "
        f"forked pages are shared); load and others' cores (CPU the rest of the machine used meanwhile, "
        f"from /proc/stat) per run; probe 2p/1p: what two cores gave a fixed pure-Python loop just before each "
        f"pair (2.0 = two whole cores).\n\n" + "\n".join(md) + "\n")


if __name__ == "__main__":
    main(sys.argv)
