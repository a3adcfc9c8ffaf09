"""Where a training step of the default word configuration spends its time (torch.profiler, CPU or GPU).

usage: python scripts/profile_step.py [--device cpu] [--steps 30] [--corpus fairy]
Builds the trainer exactly as `wordmore train --level word` does (in a temporary run directory), then times
its real step (draws, window gather, forward, backward, optimizers) over 100 steps and prints the profiler's
table of the top operators over --steps steps, grouped by input shape. Under the profiler the step runs slower
and some operators (the first layer's backward matmul) read up to twice their time unprofiled: a ranking.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from torch.profiler import profile

from wordmore.config import resolve_config
from wordmore.runtime import Runtime, sync
from wordmore.train import Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--corpus", default="fairy")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--model", default="{}", help='model fields over the preset, as JSON (e.g. \'{"tie": true}\')')
    args = ap.parse_args()
    cfg = resolve_config("word", {"train": {"device": args.device, "out": tempfile.mkdtemp()},
                                  "data": {"dataset": args.corpus}, "model": json.loads(args.model)}).validate()
    rt = Runtime.start(cfg.train.device, cfg.train.precision, cfg.train.batch_size)
    trainer = Trainer(cfg, rt, Path(cfg.train.out), None, lambda *a, **k: None)
    lr = cfg.train.lr
    for _ in range(30):
        trainer.step_once(lr)
    sync(rt.device)
    t0 = time.time()
    for _ in range(100):
        trainer.step_once(lr)
    sync(rt.device)
    print(f"{(time.time() - t0) * 10:.2f} ms/step, batch {cfg.train.batch_size}, {rt.device} {rt.precision}, "
          f"{'CUDA graph' if trainer.train_step.graphed else 'eager'}, optimizers: {', '.join(trainer.opts)}")
    with profile(record_shapes=True) as prof:
        for _ in range(args.steps):
            trainer.step_once(lr)
    print(prof.key_averages(group_by_input_shape=True).table(  # by shape: tells the matmuls apart
        sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=28, max_shapes_column_width=64))


if __name__ == "__main__":
    main()
