"""Where a training step of the default word configuration spends its time (torch.profiler, CPU or GPU).

usage: python scripts/profile_step.py [--device cpu] [--steps 30] [--corpus fairy]
Prints ms per step over 100 steps, then the profiler's table of the top operators over --steps steps.
"""
import argparse
import time

import torch
from torch.profiler import profile

from wordmore.data import Batcher, prepare, subsample_keep
from wordmore.model import ContextMLP
from wordmore.train import _autocast, _optimizers, keep_freed_memory, pick_device, resolve_config


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--corpus", default="fairy")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    dev = pick_device(args.device)
    if dev.type == "cpu":
        keep_freed_memory()  # as train() does
    cfg = resolve_config("word", {"train": {"device": args.device}, "data": {"dataset": args.corpus}})
    corpus = prepare(cfg.data, cfg.tokenizer, log=lambda *a: None)
    mc, tc = cfg.model, cfg.train
    mc.vocab_size, mc.sparse = len(corpus.vocab), dev.type == "cpu"  # as train() chooses for one process
    model = ContextMLP(mc).to(dev)
    model.set_noise(corpus.vocab.counts)
    opts = _optimizers(model, tc, dev)
    keep = subsample_keep(corpus.vocab.counts, tc.subsample)
    bat = Batcher(corpus.splits["train"], corpus.vocab.boundary_id, mc.context, mc.window, dev, keep)
    gen = torch.Generator(device=dev if dev.type == "cuda" else "cpu").manual_seed(0)

    def step():
        x, y = bat.sample(tc.batch_size, gen)  # (B, T), (B,)
        neg = model.sample_noise(gen)  # (K,)
        with _autocast(dev, tc.precision):
            _, loss = model(x, y, neg)
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opts.values():
            o.step()

    for _ in range(30):
        step()
    t0 = time.time()
    for _ in range(100):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    print(f"{(time.time() - t0) * 10:.2f} ms/step, batch {tc.batch_size}, {', '.join(opts)} optimizers")
    with profile() as prof:
        for _ in range(args.steps):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
