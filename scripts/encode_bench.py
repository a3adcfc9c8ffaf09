"""Encoding throughput and peak memory: the whole corpus folder (default $WORDMORE_DATA) to memory-mapped ids.

usage: python scripts/encode_bench.py [PATH_OR_NAME] [--streaming]
Prints tokens/s, bytes per token on disk and peak RSS; writes results/encode_bench.json.
"""
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from wordmore.data import DataConfig, prepare
from wordmore.embeddings import fmt_table
from wordmore.vocab import TokenizerConfig


def main(argv):
    spec = next((a for a in argv[1:] if not a.startswith("--")), os.environ.get("WORDMORE_DATA", ""))
    if not spec:
        sys.exit("usage: encode_bench.py PATH (or set WORDMORE_DATA)")
    streaming = "--streaming" in argv
    cache = tempfile.mkdtemp()
    t0 = time.time()
    corpus = prepare(DataConfig(dataset=spec, min_count=5, max_vocab=100000, streaming=streaming, cache_dir=cache),
                     TokenizerConfig("word"))
    dt = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    n = corpus.meta["raw_tokens"]
    disk = sum((corpus.folder / f"{s}.bin").stat().st_size for s in ("train", "val", "test"))
    row = {"corpus": spec, "tokens": n, "units": corpus.meta["units"], "vocab": len(corpus.vocab),
           "seconds": round(dt, 1), "tokens_per_s": round(n / dt), "bytes_per_token": round(disk / n, 3),
           "peak_rss_mib": round(rss), "streaming": streaming}
    print(fmt_table([(row["corpus"], f"{n:,}", f"{row['vocab']:,}", f"{row['seconds']:.1f}", f"{row['tokens_per_s']:,}",
                      row["bytes_per_token"], row["peak_rss_mib"])],
                    ("corpus", "tokens", "vocab", "seconds", "tokens/s", "bytes/token", "peak RSS MiB")))
    Path("results").mkdir(exist_ok=True)
    Path("results/encode_bench.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main(sys.argv)
