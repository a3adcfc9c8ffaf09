"""The window gather with word dropout, forward and backward, as wordmore runs it beside the textbook form, alternating
in one process (this machine's speed drifts too much between runs for anything else).

usage: python scripts/bench_gather.py [--reps 25] [--dropout 0.13] [--out results/bench_gather.json]
The preset's shapes (batch 8,192, window 8, table 100 wide, hidden 100 + direct 100, 30,000 words drawn by Zipf's
law); each variant times the gather of C's rows, the first layer and the backward of both:
- textbook: the rows gathered, the (B, T, D) input multiplied by the mask / (1 - p), its gradient summed per row by
  index_add;
- wordmore: dropped words read a zero row, 1 / (1 - p) scales the (2H, T*D) weights, the gradient summed per row
  by one CSR product (`wordmore.model.SparseRows`, `sum_rows`).
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import wordmore.model as M
from wordmore.config import ModelConfig
from wordmore.model import ContextMLP


def textbook(m: ContextMLP, idx: torch.Tensor) -> torch.Tensor:
    """The first layer's output with the mask applied to the gathered input (wordmore before session 12)."""
    emb = m.rows(m.C, idx)  # (B, T, D)
    keep = torch.rand(idx.shape) >= m.word_dropout  # (B, T)
    x = (emb * (keep / (1 - m.word_dropout)).unsqueeze(-1)).flatten(1)  # (B, T*D)
    w = torch.cat([m.hidden[0].weight, m.direct.weight])  # (2H, T*D)
    return F.linear(x, w)  # (B, 2H)


def ours(m: ContextMLP, idx: torch.Tensor) -> torch.Tensor:
    """The same through ContextMLP.features' path: the zero row and the scaled weights."""
    keep = torch.rand(idx.shape) >= m.word_dropout  # (B, T)
    x = m.rows(m.C, idx, None, keep).flatten(1)  # (B, T*D)
    w = torch.cat([m.hidden[0].weight, m.direct.weight]) / (1 - m.word_dropout)  # (2H, T*D)
    return F.linear(x, w)  # (B, 2H)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--dropout", type=float, default=0.13)
    ap.add_argument("--out", default="results/bench_gather.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    V = 30000
    cfg = ModelConfig(vocab_size=V, context=4, window="both", n_embd=100, n_hidden=100, head="sampled",
                      negatives=512, direct=True, dropout=args.dropout)
    m = ContextMLP(cfg, sparse=True)
    idx = torch.multinomial(1.0 / torch.arange(1, V + 1).float(), 8192 * 8, replacement=True).view(8192, 8)
    plain_sum = M.sum_rows

    def index_add_sum(g, inv, n, dtype):  # the textbook per-row sum
        return torch.zeros(n, g.shape[1], dtype=dtype).index_add_(0, inv, g.to(dtype))
    variants = {"textbook": (textbook, index_add_sum), "wordmore": (ours, plain_sum)}
    times = {k: [] for k in variants}
    for rep in range(args.reps + 3):
        for name, (fwd, summer) in variants.items():
            M.sum_rows = summer  # what SparseRows.backward calls
            m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            fwd(m, idx).sum().backward()
            if rep >= 3:
                times[name].append(time.perf_counter() - t0)
    M.sum_rows = plain_sum
    res = {k: {"median_ms": statistics.median(v) * 1e3, "min_ms": min(v) * 1e3} for k, v in times.items()}
    res["ratio"] = res["textbook"]["median_ms"] / res["wordmore"]["median_ms"]
    for k in variants:
        print(f"{k:9s} median {res[k]['median_ms']:6.1f} ms  min {res[k]['min_ms']:6.1f} ms")
    print(f"textbook / wordmore: {res['ratio']:.2f}x (medians of {args.reps}, alternating)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "threads": torch.get_num_threads(), **res}, indent=1))


if __name__ == "__main__":
    main()
