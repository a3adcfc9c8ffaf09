"""The word preset's CPU/GPU step beside variants of it, alternating 10-step blocks in one process (this machine's
speed drifts too much between runs to compare them otherwise): ms per step and per 1,000 training targets.

usage: python scripts/step_cost.py [--corpus fairy] [--blocks 8] [--dropout 0.13] VARIANT...
VARIANT: JSON of config sections over the preset, e.g. '{}' (the preset) '{"model": {"direct": false}}'
'{"train": {"batch_size": 4096}}'. Word dropout runs at --dropout (the rate a 9-minute demo earns here).
"""
import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from wordmore.config import resolve_config
from wordmore.runtime import Runtime, sync
from wordmore.train import Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", default=["{}"])
    ap.add_argument("--corpus", default="fairy")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--dropout", type=float, default=0.13)
    args = ap.parse_args()
    runs = []
    for v in map(json.loads, args.variants):
        over = {"train": {"out": tempfile.mkdtemp(), **v.get("train", {})},
                "data": {"dataset": args.corpus, **v.get("data", {})}, "model": v.get("model", {})}
        cfg = resolve_config("word", over).validate()
        rt = Runtime.start(cfg.train.device, cfg.train.precision, cfg.train.batch_size)
        trainer = Trainer(cfg, rt, Path(cfg.train.out), None, lambda *a, **k: None)
        trainer.model.word_dropout.fill_(args.dropout if cfg.model.dropout else 0.0)
        for _ in range(5):
            trainer.step_once(cfg.train.lr)
        runs.append((v, trainer, cfg, rt, []))
    for _ in range(args.blocks):
        for v, trainer, cfg, rt, times in runs:
            sync(rt.device)
            t0 = time.perf_counter()
            for _ in range(10):
                trainer.step_once(cfg.train.lr)
            sync(rt.device)
            times.append((time.perf_counter() - t0) / 10)
    print(f"{'variant':60s} {'ms/step':>8s} {'ms/1k targets':>14s} {'min ms/step':>12s}")
    for v, trainer, cfg, rt, times in runs:
        ms = statistics.median(times) * 1e3
        print(f"{json.dumps(v):60s} {ms:8.1f} {ms / cfg.train.batch_size * 1e3:14.2f} {min(times) * 1e3:12.1f}")


if __name__ == "__main__":
    main()
